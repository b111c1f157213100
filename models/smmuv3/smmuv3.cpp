// SPDX-License-Identifier: MIT
// The SMMUv3 module: construction, sockets, memory access helpers and
// statistics. The behaviour lives in one file per spec concept (smmuv3.h).
#include "models/smmuv3/smmuv3.h"

#include <stdexcept>

#include "models/common/vmsav8.h"

namespace iommusim::models::smmuv3 {

// ------------------------------------------------------------ message port

// PRI page requests and ATC-invalidation completions from endpoints
// (pcie_messages.h), handed to priq.cpp and ats.cpp.
class smmuv3::message_port : public iommu_message_if {
 public:
  explicit message_port(smmuv3 *s) : s_(s) {}
  void page_request(const models::page_request &req, sc_core::sc_time &delay) override {
    s_->page_request_in(req, delay);
  }
  void atc_invalidation_complete(uint32_t stream_id, uint32_t itag,
                                 sc_core::sc_time &delay) override {
    s_->atc_complete_in(stream_id, itag, delay);
  }

 private:
  smmuv3 *s_;
};

// ------------------------------------------------------------ construction

smmuv3::smmuv3(sc_core::sc_module_name name, const smmuv3_config &cfg, timing_mode mode)
    : sc_core::sc_module(name),
      upstream("upstream"),
      downstream("downstream"),
      regs("regs"),
      messages("messages"),
      cfg_(cfg),
      mode_(mode),
      clk_(cfg.clock_mhz, mode),
      down_(downstream, mode),
      walk_slots_(cfg.walk_slots) {
  if (const std::string err = cfg.check(); !err.empty())
    throw std::invalid_argument(std::string(this->name()) + ": " + err);
  SC_HAS_PROCESS(smmuv3);

  upstream.register_b_transport(this, &smmuv3::upstream_b_transport);
  upstream.register_transport_dbg(this, &smmuv3::upstream_transport_dbg);
  regs.register_b_transport(this, &smmuv3::regs_b_transport);
  regs.register_transport_dbg(this, &smmuv3::regs_transport_dbg);
  msg_port_ = std::make_unique<message_port>(this);
  messages.bind(*msg_port_);

  wt_.step_cycles = cfg_.latency.walk_step;
  const std::string me = this->name();

  for (unsigned i = 0; i < cfg_.tbus; i++) {
    auto tb = std::make_unique<tbu_state>();
    cache_config c = cfg_.micro_tlb;
    c.name = "tbu" + std::to_string(i) + ".utlb";
    tb->utlb = std::make_unique<sa_cache<utlb_entry>>(c);
    tb->slots.resize(cfg_.translation_slots);
    tb->counters.bind(me + ".tbu" + std::to_string(i) + ".utlb");
    tbus_.push_back(std::move(tb));
  }
  main_tlb_ = std::make_unique<sa_cache<main_tlb_entry>>(cfg_.main_tlb);
  main_tlb_ctr_.bind(me + ".tcu.main_tlb");
  cfg_cache_ = std::make_unique<sa_cache<cfg_entry>>(cfg_.config_cache);
  cfg_cache_ctr_.bind(me + ".tcu.cfg_cache");
  for (int stage = 1; stage <= 2; stage++) {
    const auto &list = stage == 1 ? cfg_.walk_cache_s1 : cfg_.walk_cache_s2;
    auto &caches = stage == 1 ? wc_s1_ : wc_s2_;
    auto &ctrs = stage == 1 ? wc_s1_ctr_ : wc_s2_ctr_;
    for (size_t l = 0; l < 3; l++) {
      if (l < list.size() && list[l].entries) {
        caches.push_back(std::make_unique<sa_cache<wc_entry>>(list[l]));
        auto c = std::make_unique<cache_counters>();
        c->bind(me + ".tcu.wc_s" + std::to_string(stage) + "_l" + std::to_string(l));
        ctrs.push_back(std::move(c));
      } else {
        caches.push_back(nullptr);
        ctrs.push_back(nullptr);
      }
    }
  }
  fmt_s1_ = std::make_unique<vmsav8::stage1_format>();
  fmt_s2_ = std::make_unique<vmsav8::stage2_format>();

  stats_.set_name(me);
  evt_stats_.set_name(me + ".events");
  cmd_stats_.set_name(me + ".commands");
  diag_stats_.set_name(me + ".diagnostics");
  for (stats_group *g : {&stats_, &evt_stats_, &cmd_stats_, &diag_stats_})
    stats_registry::get().add(g);
  xl_hist_ = &stats_.histogram("translate_cycles");
  diag_.configure(cfg_.diagnostics.stale_tlb, cfg_.diagnostics.unsynced_unmap,
                  cfg_.diagnostics.max_reports, cfg_.diagnostics.max_open_records);
  diag_.set_stats(&diag_stats_);
  diag_stats_.counter("stale_tlb");
  diag_stats_.counter("unsynced_reuse");

  // Reset values (§6.3): everything 0 but GBPA.ABORT (IMPLEMENTATION DEFINED).
  gbpa_ = cfg_.gbpa_abort_at_reset ? reg::GBPA_ABORT : 0;
  cmdq_.max_log2 = cfg_.idr.cmdq_log2;
  cmdq_.entry_bytes = 16;
  evtq_.max_log2 = cfg_.idr.evtq_log2;
  evtq_.entry_bytes = 32;
  priq_.max_log2 = cfg_.idr.priq_log2;
  priq_.entry_bytes = 16;

  SC_THREAD(cmdq_thread);
  SC_THREAD(evtq_thread);
  SC_THREAD(priq_thread);
}

smmuv3::~smmuv3() {
  auto &reg = stats_registry::get();
  for (auto &tb : tbus_) reg.remove(&tb->counters.group);
  reg.remove(&main_tlb_ctr_.group);
  reg.remove(&cfg_cache_ctr_.group);
  for (auto *v : {&wc_s1_ctr_, &wc_s2_ctr_})
    for (auto &c : *v)
      if (c) reg.remove(&c->group);
  for (stats_group *g : {&stats_, &evt_stats_, &cmd_stats_, &diag_stats_}) reg.remove(g);
}

void smmuv3::bind_endpoint(uint32_t stream_id, endpoint_message_if *ep) {
  endpoints_[stream_id] = ep;
}

unsigned smmuv3::tbu_of_port(int port) const {
  const auto p = static_cast<unsigned>(port);
  return p < cfg_.port_tbu.size() ? cfg_.port_tbu[p] : p % cfg_.tbus;
}

const stats_group *smmuv3::stats(const std::string &unit) const {
  const std::string want = unit.empty() ? std::string(name()) : std::string(name()) + "." + unit;
  for (const stats_group *g : all_stats())
    if (g->name() == want) return g;
  return nullptr;
}

std::vector<const stats_group *> smmuv3::all_stats() const {
  std::vector<const stats_group *> v = {&stats_, &evt_stats_, &cmd_stats_, &diag_stats_};
  for (const auto &tb : tbus_) v.push_back(&tb->counters.group);
  v.push_back(&main_tlb_ctr_.group);
  v.push_back(&cfg_cache_ctr_.group);
  for (const auto *l : {&wc_s1_ctr_, &wc_s2_ctr_})
    for (const auto &c : *l)
      if (c) v.push_back(&c->group);
  return v;
}

// ------------------------------------------------------------ memory helpers

bool smmuv3::mem_read(uint64_t pa, void *dst, unsigned len, timing_ctx &t) {
  return down_.read(pa, dst, len, t);
}

bool smmuv3::mem_write(uint64_t pa, const void *src, unsigned len, timing_ctx &t) {
  return down_.write(pa, src, len, t);
}

bool smmuv3::mem_cas(uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed,
                     timing_ctx &t) {
  // §3.13 HTTU: the descriptor update is an atomic read-modify-write.
  return down_.cas(pa, expected, desired, observed, t);
}

bool smmuv3::mem_peek(uint64_t pa, void *dst, unsigned len) { return down_.peek(pa, dst, len); }

}  // namespace iommusim::models::smmuv3
