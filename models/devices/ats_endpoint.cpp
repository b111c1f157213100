// SPDX-License-Identifier: MIT
#include "models/devices/ats_endpoint.h"

#include <algorithm>
#include <stdexcept>

namespace iommusim::models {

std::string ats_endpoint_config::check() const {
  if (!(clock_mhz > 0)) return "ats_endpoint clock_mhz must be greater than 0";
  if (std::string why = atc.check(); !why.empty()) return "ats_endpoint atc: " + why;
  for (size_t i = 0; i < program.size(); i++)
    if (program[i].len == 0) return "ats_endpoint program[" + std::to_string(i) + "] has length 0";
  return {};
}

ats_endpoint::ats_endpoint(sc_core::sc_module_name name, const ats_endpoint_config &cfg,
                           timing_mode mode)
    : sc_core::sc_module(name),
      dma("dma"),
      iommu_msg("iommu_msg"),
      endpoint_msg("endpoint_msg"),
      cfg_(cfg),
      atc_((cfg_.check().empty() ? cfg_.atc : ats_endpoint_config::default_atc())),
      later_("later") {
  if (const std::string why = cfg_.check(); !why.empty())
    throw std::invalid_argument(std::string(this->name()) + ": " + why);
  clk_ = clock_domain(cfg_.clock_mhz, mode);
  endpoint_msg.bind(*this);
  if (!cfg_.program.empty()) SC_THREAD(run_program);
  stats_.set_name(this->name());
  for (const char *c : {"atc_lookups", "atc_hits", "atc_misses", "atc_fills", "atc_evictions",
                        "translation_requests", "translated_requests", "invalidations",
                        "invalidated_entries", "faults"})
    stats_.counter(c);
  stats_registry::get().add(&stats_);
}

ats_endpoint::~ats_endpoint() { stats_registry::get().remove(&stats_); }

// One 4 KiB-bounded request: ATC, translation request if needed, the access.
bool ats_endpoint::piece(thread_time &t, const ats_access &a, uint64_t addr, uint8_t *data,
                         unsigned len, result *res) {
  dma_attrs attrs;
  attrs.stream_id = cfg_.stream_id;
  attrs.ssid_valid = a.ssid_valid;
  attrs.ssid = a.ssid;

  stats_.counter("atc_lookups")++;
  const auto hit = atc_.lookup({addr, a.ssid_valid, a.ssid});
  t.advance(hit.cycles);
  uint64_t pa = 0;
  if (hit && (a.write ? hit.entry->write : hit.entry->read)) {
    stats_.counter("atc_hits")++;
    res->atc_hits++;
    pa = hit.entry->pa + (addr - hit.entry->va);
  } else {
    // A miss, or a cached translation that does not allow this access: ask
    // again, the page's permissions may have grown since (PCIe 6.0 §10.2.3).
    if (hit) {
      stats_.counter("atc_hits")++;
      res->atc_hits++;
    } else {
      stats_.counter("atc_misses")++;
      res->atc_misses++;
    }
    const ats_completion c = ats_translate(dma, t, addr, a.write, attrs);
    stats_.counter("translation_requests")++;
    res->translation_requests++;
    res->last = c.raw;
    if (c.valid) {
      atc_entry e;
      e.shift = static_cast<uint8_t>(atc_entry::class_shift(c.shift));
      e.va = addr & ~((uint64_t{1} << e.shift) - 1);
      e.pa = c.translate(e.va);
      e.ssid_valid = a.ssid_valid;
      e.ssid = a.ssid;
      e.read = c.read;
      e.write = c.write;
      e.exec = c.exec;
      e.priv = c.priv;
      const auto f = atc_.fill(e);
      t.advance(f.cycles);
      stats_.counter("atc_fills")++;
      if (f.evicted) stats_.counter("atc_evictions")++;
    }
    if (!c.allows(a.write)) {
      stats_.counter("faults")++;
      res->fault_cls = c.raw.ext.status != iommu_status::ok ? c.raw.ext.fault_cls
                       : c.valid                           ? fault_class::permission
                                                           : fault_class::translation;
      return false;
    }
    pa = c.translate(addr);
  }
  if (res->translated_addr == 0 && addr == a.addr) res->translated_addr = pa;
  attrs.at = at_kind::translated;
  res->last = dma_transfer(dma, t, a.write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND, pa,
                           data, len, attrs);
  stats_.counter("translated_requests")++;
  if (!res->last.ok()) {
    stats_.counter("faults")++;
    res->fault_cls = res->last.ext.fault_cls;
    return false;
  }
  return true;
}

ats_endpoint::result ats_endpoint::access(thread_time &t, const ats_access &a, uint8_t *data) {
  result res;
  const sc_core::sc_time start = t.now();
  t.advance(cfg_.issue_cycles);
  res.ok = true;
  res.ok = for_each_4k_piece(a.addr, a.len, [&](uint64_t at, uint64_t off, unsigned n) {
    return piece(t, a, at, data + off, n, &res);
  });
  res.cycles = clk_.to_cycles(t.now() - start);
  stats_.histogram("latency_cycles").add(res.cycles);
  return res;
}

void ats_endpoint::run_program() {
  thread_time t(clk_);
  run_scripted_program(t, cfg_.program, &results_,
                       [this](thread_time &tt, const ats_access &a, uint8_t *data) { return access(tt, a, data); });
  t.sync();
  finished_ = true;
  done.notify(sc_core::SC_ZERO_TIME);
  if (on_done) on_done();
}

void ats_endpoint::page_response(const models::page_response &, sc_core::sc_time &) {
  stats_.counter("unexpected_page_responses")++;  // no PRI capability
}

void ats_endpoint::atc_invalidate(const atc_invalidation &inv, sc_core::sc_time &delay) {
  stats_.counter("invalidations")++;
  const unsigned size_log2 = std::clamp<unsigned>(inv.size_log2, 12, 64);
  const uint64_t base = size_log2 >= 64 ? 0 : inv.addr & ~((uint64_t{1} << size_log2) - 1);
  const uint64_t last = size_log2 >= 64 ? ~0ULL : base + ((uint64_t{1} << size_log2) - 1);
  const bool every_pasid = inv.global || !inv.ssid_valid;
  const auto r = atc_.invalidate_if([&](const atc_entry &e) {
    return e.overlaps(base, last) && (every_pasid || (e.ssid_valid && e.ssid == inv.ssid));
  });
  stats_.counter("invalidated_entries") += r.count;
  if (iommu_msg.size() == 0) return;
  const uint32_t sid = inv.stream_id, tag = inv.itag;
  later_.schedule(delay + clk_.cycles(cfg_.invalidate_cycles + r.cycles), [this, sid, tag] {
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    iommu_msg->atc_invalidation_complete(sid, tag, d);
  });
}

}  // namespace iommusim::models
