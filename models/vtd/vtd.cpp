// SPDX-License-Identifier: MIT
// The VT-d module: construction, sockets, memory access helpers and
// statistics. The behaviour lives in one file per spec concept (vtd.h).
#include "models/vtd/vtd.h"

#include <stdexcept>

#include "models/common/x86_paging.h"

namespace iommusim::models::vtd {

// ATS/PRI messages from endpoints (pcie_messages.h), handed to prq.cpp and ats.cpp.
class vtd::message_port : public iommu_message_if {
 public:
  explicit message_port(vtd *v) : v_(v) {}
  void page_request(const models::page_request &req, sc_core::sc_time &delay) override {
    v_->page_request_in(req, delay);
  }
  void atc_invalidation_complete(uint32_t stream_id, uint32_t itag,
                                 sc_core::sc_time &delay) override {
    v_->dtlb_complete_in(stream_id, itag, delay);
  }

 private:
  vtd *v_;
};

vtd::vtd(sc_core::sc_module_name name, const vtd_config &cfg, timing_mode mode)
    : sc_core::sc_module(name),
      upstream("upstream"),
      downstream("downstream"),
      regs("regs"),
      messages("messages"),
      cfg_(cfg),
      mode_(mode),
      clk_(cfg.clock_mhz, mode),
      down_(downstream, mode),
      xl_slots_(cfg.translation_slots),
      walk_slots_(cfg.walk_slots) {
  if (const std::string err = cfg.check(); !err.empty())
    throw std::invalid_argument(std::string(this->name()) + ": " + err);
  SC_HAS_PROCESS(vtd);

  upstream.register_b_transport(this, &vtd::upstream_b_transport);
  upstream.register_transport_dbg(this, &vtd::upstream_transport_dbg);
  regs.register_b_transport(this, &vtd::regs_b_transport);
  regs.register_transport_dbg(this, &vtd::regs_transport_dbg);
  msg_port_ = std::make_unique<message_port>(this);
  messages.bind(*msg_port_);

  wt_.step_cycles = cfg_.latency.walk_step;
  const std::string me = this->name();
  iotlb_ = std::make_unique<sa_cache<iotlb_entry>>(cfg_.iotlb);
  iotlb_ctr_.bind(me + ".iotlb");
  ctx_cache_ = std::make_unique<sa_cache<context_cache_entry>>(cfg_.context_cache);
  ctx_cache_ctr_.bind(me + ".context_cache");
  pasid_cache_ = std::make_unique<sa_cache<pasid_cache_entry>>(cfg_.pasid_cache);
  pasid_cache_ctr_.bind(me + ".pasid_cache");
  for (int stage = 1; stage <= 2; stage++) {
    const auto &list = stage == 1 ? cfg_.pwc_fs : cfg_.pwc_ss;
    auto &caches = stage == 1 ? pwc_fs_ : pwc_ss_;
    auto &ctrs = stage == 1 ? pwc_fs_ctr_ : pwc_ss_ctr_;
    for (const cache_config &c : list) {
      if (c.entries) {
        caches.push_back(std::make_unique<sa_cache<pwc_entry>>(c));
        auto ctr = std::make_unique<cache_counters>();
        ctr->bind(me + "." + c.name);
        ctrs.push_back(std::move(ctr));
      } else {
        caches.push_back(nullptr);
        ctrs.push_back(nullptr);
      }
    }
  }
  fmt_fs_ = std::make_unique<x86::first_stage_format>();
  fmt_ss_ = std::make_unique<x86::second_stage_format>();

  stats_.set_name(me);
  fault_stats_.set_name(me + ".faults");
  qi_stats_.set_name(me + ".qi");
  diag_stats_.set_name(me + ".diagnostics");
  for (stats_group *g : {&stats_, &fault_stats_, &qi_stats_, &diag_stats_})
    stats_registry::get().add(g);
  xl_hist_ = &stats_.histogram("translate_cycles");
  diag_stats_.counter("stale_tlb");

  // Reset values (§11.4): event interrupts masked, everything else 0.
  fectl_ = iectl_ = pectl_ = reg::ECTL_IM;
  frcd_.resize(cfg_.cap.nfr);

  SC_THREAD(qi_thread);
  SC_THREAD(prq_thread);
}

vtd::~vtd() {
  auto &r = stats_registry::get();
  for (cache_counters *c : {&iotlb_ctr_, &ctx_cache_ctr_, &pasid_cache_ctr_}) r.remove(&c->group);
  for (auto *v : {&pwc_fs_ctr_, &pwc_ss_ctr_})
    for (auto &c : *v)
      if (c) r.remove(&c->group);
  for (stats_group *g : {&stats_, &fault_stats_, &qi_stats_, &diag_stats_}) r.remove(g);
}

void vtd::bind_endpoint(uint32_t requester_id, endpoint_message_if *ep) {
  endpoints_[requester_id] = ep;
}

void vtd::publish_caches() {
  iotlb_ctr_.publish(iotlb_->stats());
  ctx_cache_ctr_.publish(ctx_cache_->stats());
  pasid_cache_ctr_.publish(pasid_cache_->stats());
  for (int stage = 1; stage <= 2; stage++) {
    auto &caches = stage == 1 ? pwc_fs_ : pwc_ss_;
    auto &ctrs = stage == 1 ? pwc_fs_ctr_ : pwc_ss_ctr_;
    for (size_t i = 0; i < caches.size(); i++)
      if (caches[i]) ctrs[i]->publish(caches[i]->stats());
  }
}

const stats_group *vtd::stats(const std::string &unit) const {
  const std::string want = unit.empty() ? std::string(name()) : std::string(name()) + "." + unit;
  for (const stats_group *g : all_stats())
    if (g->name() == want) return g;
  return nullptr;
}

std::vector<const stats_group *> vtd::all_stats() const {
  const_cast<vtd *>(this)->publish_caches();
  std::vector<const stats_group *> v = {&stats_, &fault_stats_, &qi_stats_, &diag_stats_,
                                        &iotlb_ctr_.group, &ctx_cache_ctr_.group,
                                        &pasid_cache_ctr_.group};
  for (const auto *l : {&pwc_fs_ctr_, &pwc_ss_ctr_})
    for (const auto &c : *l)
      if (c) v.push_back(&c->group);
  return v;
}

// ------------------------------------------------------------ memory helpers

bool vtd::mem_read(uint64_t pa, void *dst, unsigned len, timing_ctx &t) {
  count("iommu1.num_mem_accesses");  // the unit's own accesses (not the DMA data)
  return down_.read(pa, dst, len, t);
}

bool vtd::mem_write(uint64_t pa, const void *src, unsigned len, timing_ctx &t) {
  count("iommu1.num_mem_accesses");
  return down_.write(pa, src, len, t);
}

bool vtd::mem_cas(uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed,
                  timing_ctx &t) {
  count("iommu1.num_mem_accesses");
  // A/D updates are atomic read-modify-writes of the entry (VT-d §3.6.3, §3.8).
  return down_.cas(pa, expected, desired, observed, t);
}

bool vtd::mem_peek(uint64_t pa, void *dst, unsigned len) { return down_.peek(pa, dst, len); }

}  // namespace iommusim::models::vtd
