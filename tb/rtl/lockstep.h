// SPDX-License-Identifier: MIT
// Lock-step of the RTL IOTLB against the cache template: every cycle the same
// random operations go to the Verilated iotlb (through its ports, pipelined:
// up to one lookup and one fill a cycle) and to sa_cache (in the order the
// RTL defines for one cycle: lookup, then fill, then invalidation), and every
// answer must agree -- hit or miss, set and way, the translation returned,
// the fill's way and whether it evicted, what an invalidation removed -- and
// arrive in the cycle the C++ model's cost says. Shared by the test
// (tb/rtl/rtl_lockstep_test.cpp) and the benchmark (tb/bench/rtl_bench.cpp).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "models/common/cache.h"
#include "rtl/iotlb_rtl.h"

namespace iommusim::rtl::tb {

// A key: stream/context, ASID (or PASID), VMID, input address.
struct key {
  uint32_t ctx = 0;
  uint32_t asid = 0;
  uint16_t vmid = 0;
  uint64_t va = 0;
};

// An IOTLB entry with 4 KiB, 2 MiB and 1 GiB pages (hardware classes 0, 3, 6).
struct entry {
  using key_type = key;
  static constexpr unsigned shifts[3] = {12, 21, 30};
  static constexpr uint8_t hw_class[3] = {0, 3, 6};
  uint32_t ctx = 0;
  uint32_t asid = 0;
  uint16_t vmid = 0;
  bool global = false;
  uint8_t cls = 0;  // 0: 4K, 1: 2M, 2: 1G
  uint64_t vpage = 0;
  uint64_t opage = 0;  // PA >> 12
  uint8_t perm = 0, attr = 0;

  static unsigned probes(const key &) { return 3; }
  static uint64_t probe_hash(const key &k, unsigned p) {
    return hash_of(k.va >> shifts[p], p, k.ctx);
  }
  uint64_t hash() const { return hash_of(vpage, cls, ctx); }
  static uint64_t hash_of(uint64_t page, unsigned cls, uint32_t ctx) {
    return page ^ (page >> 9) ^ (uint64_t{ctx} * 0x2f1u) ^ (uint64_t{cls} * 0x55u);
  }
  bool matches(const key &k) const {
    return k.ctx == ctx && k.vmid == vmid && (global || k.asid == asid) &&
           (k.va >> shifts[cls]) == vpage;
  }
  bool same_tag(const entry &o) const {
    return ctx == o.ctx && asid == o.asid && vmid == o.vmid && global == o.global &&
           cls == o.cls && vpage == o.vpage;
  }
  uint64_t base() const { return vpage << shifts[cls]; }
  uint64_t last() const { return base() + ((uint64_t{1} << shifts[cls]) - 1); }

  static models::hw_key hw_key_of(const key &k) { return {k.ctx, k.asid, k.vmid, k.va}; }
  models::hw_tag hw_tag_of() const { return {ctx, asid, vmid, global, hw_class[cls], vpage}; }
  models::hw_data hw_data_of() const { return {opage, perm, attr}; }
};

// The geometry and straps of one lock-step run.
struct setup {
  uint32_t sets = 8;
  bool round_robin = false;
  unsigned lookup_latency = 3;
  unsigned inv_cycles_per_set = 1;
  bool flash = true;
  std::string trace_path;

  models::cache_config cache() const {
    models::cache_config c;
    c.name = "iotlb";
    c.entries = sets * iotlb_ways;
    c.ways = iotlb_ways;
    c.policy = round_robin ? models::replacement_policy::round_robin
                           : models::replacement_policy::plru;
    c.lookup_cycles = lookup_latency;
    c.fill_cycles = 0;
    c.invalidate_cycles_per_set = inv_cycles_per_set;
    c.flash_invalidate = flash;
    return c;
  }
  iotlb_params rtl() const {
    return iotlb_params{sets, round_robin, lookup_latency, inv_cycles_per_set, flash, trace_path};
  }
};

// How a stream behaves: rates in percent of cycles, and the address universe.
struct stream {
  unsigned lookup_pct = 70;   // a lookup this cycle
  unsigned fill_pct = 30;     // a fill this cycle (besides the lookup)
  unsigned inv_permille = 4;  // an invalidation this cycle (no fill in it)
  unsigned contexts = 3, asids = 4, vmids = 2;
  unsigned pages = 64;        // distinct pages per size class in the universe
  unsigned global_pct = 12;
  unsigned large_pct = 25;    // 2M or 1G entries
  unsigned refill_pct = 15;   // a fill of a tag already present (in-place update)
};

struct totals {
  uint64_t cycles = 0, lookups = 0, hits = 0, fills = 0, evictions = 0, in_place = 0,
           invalidations = 0, invalidated = 0;
};

class lockstep {
 public:
  lockstep(const setup &s, uint64_t seed) : s_(s), ref_(s.cache()), rtl_(s.rtl()), rng_(seed) {}

  // Runs `ops` operations (lookups + fills + invalidations); returns "" when
  // every answer agreed, else the first disagreement, with its cycle.
  std::string run(uint64_t ops, const stream &st) {
    st_ = st;
    uint64_t done = 0;
    while (done < ops || !pending_.empty() || inv_due_ != 0) {
      if (const std::string e = check_outputs(); !e.empty()) return e;
      if (inv_due_ == 0 && done < ops) done += issue();
      if (!fill_error_.empty()) return fill_error_;
      if (!exts_.empty()) drive_ext();
      rtl_.step();
      rtl_.idle();
      rtl_.eval();
    }
    t_.cycles = rtl_.cycle();
    return {};
  }

  const totals &counts() const { return t_; }
  const models::sa_cache<entry> &reference() const { return ref_; }

 private:
  struct expected_lookup {
    uint64_t due;
    uint16_t id;
    bool hit;
    uint32_t set, way;
    uint8_t size_class;
    models::hw_data data;
  };

  uint64_t rnd(uint64_t n) { return n ? rng_() % n : 0; }
  bool pct(unsigned p) { return rnd(100) < p; }

  std::string fail(const std::string &what) const {
    std::ostringstream o;
    o << "cycle " << rtl_.cycle() << ": " << what;
    return o.str();
  }

  key random_key() {
    key k;
    k.ctx = static_cast<uint32_t>(rnd(st_.contexts));
    k.asid = static_cast<uint32_t>(rnd(st_.asids));
    k.vmid = static_cast<uint16_t>(rnd(st_.vmids));
    // Pages of the universe sit in a 4 GiB window so 4K, 2M and 1G entries overlap.
    const unsigned cls = pct(st_.large_pct) ? 1 + static_cast<unsigned>(rnd(2)) : 0;
    const uint64_t page = rnd(st_.pages) * (cls == 2 ? 1 : 1 + rnd(3));
    k.va = ((page << entry::shifts[cls]) & 0xFFFF'FFFFull) | rnd(1u << 12);
    return k;
  }

  entry entry_for(const key &k) {
    entry e;
    e.ctx = k.ctx;
    e.asid = k.asid;
    e.vmid = k.vmid;
    e.global = pct(st_.global_pct);
    const unsigned r = static_cast<unsigned>(rnd(100));
    e.cls = r < st_.large_pct ? static_cast<uint8_t>(1 + r % 2) : 0;
    e.vpage = k.va >> entry::shifts[e.cls];
    e.opage = (rng_() & 0xF'FFFF'FFFFull) >> (entry::shifts[e.cls] - 12) << (entry::shifts[e.cls] - 12);
    e.perm = static_cast<uint8_t>(rnd(16));
    e.attr = static_cast<uint8_t>(rnd(256));
    return e;
  }

  std::string check_outputs() {
    const uint64_t c = rtl_.cycle();
    const iotlb_rtl::lookup_rsp r = rtl_.response();
    if (!pending_.empty() && pending_.front().due < c)
      return fail("lookup " + std::to_string(pending_.front().id) + " got no response at cycle " +
                  std::to_string(pending_.front().due));
    if (r.valid) {
      if (pending_.empty() || pending_.front().due != c)
        return fail("a lookup response the model did not expect now");
      const expected_lookup x = pending_.front();
      pending_.pop_front();
      if (r.id != x.id) return fail("response id " + std::to_string(r.id) + ", expected " + std::to_string(x.id));
      if (r.hit != x.hit) return fail(std::string("RTL ") + (r.hit ? "hit" : "miss") + ", model " + (x.hit ? "hit" : "miss"));
      if (r.set != x.set || r.way != x.way)
        return fail("lookup at set " + std::to_string(r.set) + " way " + std::to_string(r.way) +
                    ", model set " + std::to_string(x.set) + " way " + std::to_string(x.way));
      if (x.hit && (r.size_class != x.size_class || !(r.data == x.data)))
        return fail("a different translation returned");
    }
    if (inv_due_ != 0) {
      const bool due = c == inv_due_;
      if (rtl_.inv_done() != due)
        return fail(std::string("invalidation done ") + (rtl_.inv_done() ? "early" : "late") +
                    ", model says cycle " + std::to_string(inv_due_));
      if (rtl_.ready() == (c < inv_due_ && inv_sweep_))
        return fail("ports ready while sweeping (or not ready after)");
      if (due) {
        if (rtl_.inv_count() != inv_count_)
          return fail("invalidated " + std::to_string(rtl_.inv_count()) + ", model " +
                      std::to_string(inv_count_));
        inv_due_ = 0;
        exts_.clear();
      }
    }
    return {};
  }

  // Issues this cycle's operations on both sides; returns how many.
  uint64_t issue() {
    uint64_t n = 0;
    const uint64_t c = rtl_.cycle();
    if (pct(st_.lookup_pct)) {
      key k = random_key();
      if (!recent_.empty() && pct(50)) {  // re-touch a filled translation
        const entry &e = recent_[rnd(recent_.size())];
        k.ctx = e.ctx;
        k.asid = e.global ? static_cast<uint32_t>(rnd(st_.asids)) : e.asid;
        k.vmid = e.vmid;
        k.va = e.base() + rnd(uint64_t{1} << entry::shifts[e.cls]);
      }
      iotlb_rtl::lookup_req q;
      q.valid = true;
      q.id = ++id_;
      q.key = entry::hw_key_of(k);
      q.nprobes = entry::probes(k);
      for (unsigned p = 0; p < q.nprobes; p++)
        q.sets[p] = static_cast<uint32_t>(entry::probe_hash(k, p) & (s_.sets - 1));
      rtl_.drive_lookup(q);
      const auto lr = ref_.lookup(k);
      expected_lookup x{c + lr.cycles, q.id, lr.entry != nullptr, lr.set, lr.way, 0, {}};
      if (lr.entry) {
        x.size_class = entry::hw_class[lr.entry->cls];
        x.data = lr.entry->hw_data_of();
        t_.hits++;
      }
      pending_.push_back(x);
      t_.lookups++;
      last_key_ = k;
      n++;
    }
    if (pct(st_.fill_pct)) {
      entry e;
      if (!recent_.empty() && pct(st_.refill_pct)) {
        e = recent_[rnd(recent_.size())];  // same tag, new data
        e.perm = static_cast<uint8_t>(rnd(16));
        e.opage ^= uint64_t{1} << (18 + rnd(20));
      } else {
        e = entry_for(pct(60) ? last_key_ : random_key());
      }
      iotlb_rtl::fill_req q;
      q.valid = true;
      q.set = static_cast<uint32_t>(e.hash() & (s_.sets - 1));
      q.tag = e.hw_tag_of();
      q.data = e.hw_data_of();
      rtl_.drive_fill(q);
      rtl_.eval();
      const iotlb_rtl::fill_rsp got = rtl_.fill_result();
      const auto fr = ref_.fill(e);
      if (got.way != fr.way || got.evicted != fr.evicted) {
        fill_error_ = fail("fill way " + std::to_string(got.way) + (got.evicted ? " (evict)" : "") +
                           ", model way " + std::to_string(fr.way) + (fr.evicted ? " (evict)" : ""));
      }
      t_.fills++;
      t_.evictions += fr.evicted;
      t_.in_place += got.in_place;
      if (recent_.size() < 256)
        recent_.push_back(e);
      else
        recent_[rnd(recent_.size())] = e;
      n++;
      return n;  // no invalidation in a fill's cycle
    }
    if (rnd(1000) < st_.inv_permille) {
      issue_invalidation(c);
      n++;
    }
    return n;
  }

  void issue_invalidation(uint64_t c) {
    iotlb_rtl::inv_req q;
    q.valid = true;
    const unsigned kind = static_cast<unsigned>(rnd(5));
    q.op = static_cast<inv_op>(kind);
    q.ctx_en = pct(30);
    q.ctx = static_cast<uint32_t>(rnd(st_.contexts));
    q.vmid_en = kind == 2 || pct(40);
    q.vmid = static_cast<uint16_t>(rnd(st_.vmids));
    q.asid_en = kind == 1 || (kind == 3 && pct(50));
    q.asid = static_cast<uint32_t>(rnd(st_.asids));
    q.global = pct(50);
    // A range around a page of the universe, sometimes a single byte, sometimes 1 GiB.
    const uint64_t at = rnd(st_.pages * 3) << 12;
    const uint64_t len = pct(30) ? 1 : pct(50) ? (1 + rnd(8)) << 12 : uint64_t{1} << (21 + rnd(10));
    q.lo = at;
    q.hi = at + len - 1;
    const uint64_t salt = rng_();
    auto native = [q](const entry &e) {
      return (!q.ctx_en || e.ctx == q.ctx) && (!q.vmid_en || e.vmid == q.vmid) &&
             (!q.asid_en || e.asid == q.asid || (q.global && e.global));
    };
    std::function<bool(const entry &)> pred;
    switch (q.op) {
      case inv_op::range:
        pred = [=](const entry &e) { return native(e) && e.base() <= q.hi && e.last() >= q.lo; };
        break;
      case inv_op::ext:
        pred = [salt](const entry &e) { return ((e.vpage * 0x9E37u) ^ salt ^ e.ctx) % 3 == 0; };
        break;
      default:
        pred = native;
        break;
    }
    if (q.op == inv_op::ext) {
      // The external comparator's mask for each set, from the state the sweep starts on.
      exts_.assign(s_.sets, 0);
      for (uint32_t si = 0; si < s_.sets; si++)
        for (uint32_t w = 0; w < iotlb_ways; w++)
          if (const entry *e = ref_.at(si, w); e && pred(*e)) exts_[si] |= 1u << w;
    }
    const auto r = q.op == inv_op::all ? ref_.invalidate_all() : ref_.invalidate_if(pred);
    rtl_.drive_invalidate(q);
    inv_due_ = c + r.cycles;
    inv_count_ = static_cast<uint32_t>(r.count);
    inv_sweep_ = !(q.op == inv_op::all && s_.flash);
    t_.invalidations++;
    t_.invalidated += r.count;
  }

  void drive_ext() {
    rtl_.eval();
    rtl_.drive_ext_kill(exts_[rtl_.sweep_set() % exts_.size()]);
  }

  setup s_;
  models::sa_cache<entry> ref_;
  iotlb_rtl rtl_;
  std::mt19937_64 rng_;
  stream st_;
  std::deque<expected_lookup> pending_;
  std::vector<entry> recent_;
  std::vector<uint32_t> exts_;
  key last_key_;
  uint16_t id_ = 0;
  uint64_t inv_due_ = 0;
  uint32_t inv_count_ = 0;
  bool inv_sweep_ = false;
  std::string fill_error_;
  totals t_;
};

}  // namespace iommusim::rtl::tb
