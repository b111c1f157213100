// SPDX-License-Identifier: MIT
// The IOTLB Verilated for SystemC (Viotlb_sc, an sc_module) under an
// sc_clock, in lock-step with the cache template: a SystemC thread drives the
// ports at each falling edge (the rising edge samples them) and checks every
// response in the cycle the C++ model's cost says, the fill's way in its
// request cycle, and invalidations' completion cycles and counts.
#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <systemc>

#include "Viotlb_sc.h"
#include "tb/rtl/lockstep.h"

namespace {

using namespace sc_core;
using iommusim::models::sa_cache;
using iommusim::rtl::tb::entry;
using iommusim::rtl::tb::key;

SC_MODULE(sc_lockstep) {
  sc_clock clk{"clk", 1, SC_NS};
  sc_signal<bool> rst_n{"rst_n"}, cfg_policy{"cfg_policy"}, cfg_flash{"cfg_flash"};
  sc_signal<uint32_t> cfg_sets_log2{"cfg_sets_log2"}, cfg_lat{"cfg_lat"}, cfg_inv_cps{"cfg_inv_cps"};
  sc_signal<bool> lk_valid{"lk_valid"}, lk_ready{"lk_ready"}, rsp_valid{"rsp_valid"}, rsp_hit{"rsp_hit"};
  sc_signal<uint32_t> lk_nprobes{"lk_nprobes"}, lk_id{"lk_id"}, lk_vmid{"lk_vmid"}, lk_ctx{"lk_ctx"},
      lk_asid{"lk_asid"};
  sc_signal<uint64_t> lk_va{"lk_va"};
  sc_signal<sc_dt::sc_bv<72>> lk_sets{"lk_sets"};
  sc_signal<uint32_t> rsp_way{"rsp_way"}, rsp_probe{"rsp_probe"}, rsp_size{"rsp_size"},
      rsp_perm{"rsp_perm"}, rsp_attr{"rsp_attr"}, rsp_id{"rsp_id"}, rsp_set{"rsp_set"};
  sc_signal<uint64_t> rsp_opage{"rsp_opage"};
  sc_signal<bool> fl_valid{"fl_valid"}, fl_ready{"fl_ready"}, fl_global{"fl_global"},
      fl_evict{"fl_evict"}, fl_inplace{"fl_inplace"};
  sc_signal<uint32_t> fl_size{"fl_size"}, fl_perm{"fl_perm"}, fl_attr{"fl_attr"}, fl_way{"fl_way"},
      fl_set{"fl_set"}, fl_vmid{"fl_vmid"}, fl_ctx{"fl_ctx"}, fl_asid{"fl_asid"};
  sc_signal<uint64_t> fl_vpage{"fl_vpage"}, fl_opage{"fl_opage"};
  sc_signal<bool> inv_valid{"inv_valid"}, inv_ready{"inv_ready"}, inv_ctx_en{"inv_ctx_en"},
      inv_asid_en{"inv_asid_en"}, inv_global{"inv_global"}, inv_vmid_en{"inv_vmid_en"},
      inv_busy{"inv_busy"}, inv_done{"inv_done"};
  sc_signal<uint32_t> inv_op{"inv_op"}, inv_ext_kill{"inv_ext_kill"}, inv_vmid{"inv_vmid"},
      inv_sweep_set{"inv_sweep_set"}, inv_ctx{"inv_ctx"}, inv_asid{"inv_asid"}, inv_count{"inv_count"};
  sc_signal<uint64_t> inv_lo{"inv_lo"}, inv_hi{"inv_hi"};
  Viotlb_sc dut{"dut"};

  static constexpr uint32_t sets = 64;
  static constexpr unsigned latency = 2;
  iommusim::rtl::tb::setup geometry{sets, false, latency, 1, true, {}};
  sa_cache<entry> ref{geometry.cache()};
  uint64_t cycles_to_run = 0;
  std::string error;
  uint64_t lookups = 0, hits = 0, fills = 0, evictions = 0, invalidations = 0;

  SC_CTOR(sc_lockstep) {
    dut.clk(clk);
    dut.rst_n(rst_n);
    dut.cfg_sets_log2(cfg_sets_log2);
    dut.cfg_policy(cfg_policy);
    dut.cfg_lat(cfg_lat);
    dut.cfg_inv_cps(cfg_inv_cps);
    dut.cfg_flash(cfg_flash);
    dut.lk_valid(lk_valid);
    dut.lk_ready(lk_ready);
    dut.lk_nprobes(lk_nprobes);
    dut.lk_id(lk_id);
    dut.lk_vmid(lk_vmid);
    dut.lk_ctx(lk_ctx);
    dut.lk_asid(lk_asid);
    dut.lk_va(lk_va);
    dut.lk_sets(lk_sets);
    dut.rsp_valid(rsp_valid);
    dut.rsp_hit(rsp_hit);
    dut.rsp_way(rsp_way);
    dut.rsp_probe(rsp_probe);
    dut.rsp_size(rsp_size);
    dut.rsp_perm(rsp_perm);
    dut.rsp_attr(rsp_attr);
    dut.rsp_id(rsp_id);
    dut.rsp_set(rsp_set);
    dut.rsp_opage(rsp_opage);
    dut.fl_valid(fl_valid);
    dut.fl_ready(fl_ready);
    dut.fl_global(fl_global);
    dut.fl_size(fl_size);
    dut.fl_perm(fl_perm);
    dut.fl_attr(fl_attr);
    dut.fl_way(fl_way);
    dut.fl_evict(fl_evict);
    dut.fl_inplace(fl_inplace);
    dut.fl_set(fl_set);
    dut.fl_vmid(fl_vmid);
    dut.fl_ctx(fl_ctx);
    dut.fl_asid(fl_asid);
    dut.fl_vpage(fl_vpage);
    dut.fl_opage(fl_opage);
    dut.inv_valid(inv_valid);
    dut.inv_ready(inv_ready);
    dut.inv_op(inv_op);
    dut.inv_ctx_en(inv_ctx_en);
    dut.inv_asid_en(inv_asid_en);
    dut.inv_global(inv_global);
    dut.inv_vmid_en(inv_vmid_en);
    dut.inv_busy(inv_busy);
    dut.inv_ext_kill(inv_ext_kill);
    dut.inv_done(inv_done);
    dut.inv_vmid(inv_vmid);
    dut.inv_sweep_set(inv_sweep_set);
    dut.inv_ctx(inv_ctx);
    dut.inv_asid(inv_asid);
    dut.inv_count(inv_count);
    dut.inv_lo(inv_lo);
    dut.inv_hi(inv_hi);
    SC_THREAD(run);
  }

  struct expected {
    uint64_t due;
    uint32_t id;
    bool hit;
    uint32_t set, way;
    uint64_t opage;
  };

  void fail(uint64_t cycle, const std::string &what) {
    if (error.empty()) error = "cycle " + std::to_string(cycle) + ": " + what;
  }

  // The thread stops the simulation however the check ends (an sc_clock
  // never runs out of events).
  void run() {
    check();
    sc_stop();
  }

  void check() {
    cfg_sets_log2.write(6);
    cfg_policy.write(false);
    cfg_lat.write(latency);
    cfg_inv_cps.write(1);
    cfg_flash.write(true);
    rst_n.write(false);
    wait(clk.negedge_event());
    wait(clk.negedge_event());
    rst_n.write(true);
    std::mt19937_64 rng(7);
    std::deque<expected> pending;
    std::vector<entry> recent;
    uint64_t inv_due = 0;
    uint32_t inv_expect = 0;
    for (uint64_t n = 0; n < cycles_to_run || !pending.empty() || inv_due; n++) {
      wait(clk.negedge_event());  // the outputs of the last rising edge are settled
      lk_valid.write(false);
      fl_valid.write(false);
      inv_valid.write(false);
      if (rsp_valid.read()) {
        if (pending.empty() || pending.front().due != n) return fail(n, "unexpected response");
        const expected x = pending.front();
        pending.pop_front();
        if (rsp_id.read() != x.id || rsp_hit.read() != x.hit || rsp_set.read() != x.set ||
            rsp_way.read() != x.way || (x.hit && rsp_opage.read() != x.opage))
          return fail(n, "response differs from the cache template's");
      } else if (!pending.empty() && pending.front().due <= n) {
        return fail(n, "no response when due");
      }
      if (inv_due) {
        if (inv_done.read() != (n == inv_due)) return fail(n, "invalidation done in the wrong cycle");
        if (n == inv_due) {
          if (inv_count.read() != inv_expect) return fail(n, "invalidation count differs");
          inv_due = 0;
        }
        continue;  // nothing new while an invalidation runs
      }
      if (n >= cycles_to_run) continue;
      // A lookup most cycles: a recent translation or a random page.
      if (rng() % 10 < 7) {
        key k{static_cast<uint32_t>(rng() % 2), static_cast<uint32_t>(rng() % 3), 0,
              (rng() % 400) << 12 | (rng() & 0xFFF)};
        if (!recent.empty() && rng() % 2) {
          const entry &e = recent[rng() % recent.size()];
          k = key{e.ctx, e.asid, e.vmid, e.base()};
        }
        sc_dt::sc_bv<72> sv;
        for (unsigned p = 0; p < entry::probes(k); p++)
          sv.range(p * 9 + 8, p * 9) = static_cast<uint32_t>(entry::probe_hash(k, p) & (sets - 1));
        lk_sets.write(sv);
        lk_ctx.write(k.ctx);
        lk_asid.write(k.asid);
        lk_vmid.write(k.vmid);
        lk_va.write(k.va);
        lk_nprobes.write(entry::probes(k));
        lk_id.write(static_cast<uint32_t>(n & 0xFFFF));
        lk_valid.write(true);
        const auto lr = ref.lookup(k);
        pending.push_back({n + lr.cycles, static_cast<uint32_t>(n & 0xFFFF), lr.entry != nullptr,
                           lr.set, lr.way, lr.entry ? lr.entry->opage : 0});
        lookups++;
        hits += lr.entry != nullptr;
      }
      if (rng() % 10 < 3) {
        entry e;
        e.ctx = static_cast<uint32_t>(rng() % 2);
        e.asid = static_cast<uint32_t>(rng() % 3);
        e.global = rng() % 8 == 0;
        e.cls = rng() % 5 == 0 ? 1 : 0;
        e.vpage = ((rng() % 400) << 12) >> entry::shifts[e.cls];
        e.opage = (rng() & 0xFFFFF) << 9;
        e.perm = 3;
        fl_set.write(static_cast<uint32_t>(e.hash() & (sets - 1)));
        fl_ctx.write(e.ctx);
        fl_asid.write(e.asid);
        fl_vmid.write(e.vmid);
        fl_global.write(e.global);
        fl_size.write(entry::hw_class[e.cls]);
        fl_vpage.write(e.vpage);
        fl_opage.write(e.opage);
        fl_perm.write(e.perm);
        fl_attr.write(e.attr);
        fl_valid.write(true);
        wait(100, SC_PS);  // the fill's answer is combinational: let it settle
        const auto fr = ref.fill(e);
        if (fl_way.read() != fr.way || fl_evict.read() != fr.evicted)
          return fail(n, "fill way differs from the cache template's");
        fills++;
        evictions += fr.evicted;
        if (recent.size() < 64) recent.push_back(e); else recent[rng() % 64] = e;
        continue;
      }
      if (rng() % 200 == 0) {  // invalidate all (flash) or by ASID (a 64-set sweep)
        const bool all = rng() % 2;
        const uint32_t asid = static_cast<uint32_t>(rng() % 3);
        inv_op.write(all ? 0 : 1);
        inv_asid_en.write(!all);
        inv_asid.write(asid);
        inv_global.write(false);
        inv_ctx_en.write(false);
        inv_vmid_en.write(false);
        inv_valid.write(true);
        const auto r = all ? ref.invalidate_all()
                           : ref.invalidate_if([asid](const entry &e) { return e.asid == asid; });
        inv_due = n + r.cycles;
        inv_expect = static_cast<uint32_t>(r.count);
        invalidations++;
      }
    }
  }
};

TEST(RtlSystemC, LockstepUnderScClock) {
  sc_lockstep tb("tb");
  tb.cycles_to_run = 30000;
  sc_start(1, SC_SEC);
  ASSERT_EQ(tb.error, "");
  EXPECT_GT(tb.lookups, 15000u);
  EXPECT_GT(tb.hits, 3000u);
  EXPECT_GT(tb.evictions, 100u);
  EXPECT_GT(tb.invalidations, 20u);
  std::printf("SystemC lock-step: %llu lookups (%llu hits), %llu fills (%llu evictions), %llu invalidations\n",
              (unsigned long long)tb.lookups, (unsigned long long)tb.hits, (unsigned long long)tb.fills,
              (unsigned long long)tb.evictions, (unsigned long long)tb.invalidations);
}

}  // namespace
