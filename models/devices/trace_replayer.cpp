// SPDX-License-Identifier: MIT
#include "models/devices/trace_replayer.h"

#include <algorithm>
#include <stdexcept>

namespace iommusim::models {

std::string trace_replayer_config::check() const {
  if (!(clock_mhz > 0)) return "trace replayer clock_mhz must be greater than 0";
  if (outstanding < 1 || outstanding > 1024) return "trace replayer outstanding must be 1 .. 1024";
  return {};
}

trace_replayer::trace_replayer(sc_core::sc_module_name name, const trace_replayer_config &cfg,
                               timing_mode mode, std::vector<trace_record> records)
    : sc_core::sc_module(name),
      dma("dma"),
      iommu_msg("iommu_msg"),
      endpoint_msg("endpoint_msg"),
      cfg_(cfg),
      records_(std::move(records)),
      pri_("pri_responses"),
      later_("later") {
  if (const std::string why = cfg_.check(); !why.empty())
    throw std::invalid_argument(std::string(this->name()) + ": " + why);
  clk_ = clock_domain(cfg_.clock_mhz, mode);
  endpoint_msg.bind(*this);
  started_ = cfg_.autostart;
  running_ = cfg_.outstanding;
  results_.resize(records_.size());
  completed_.assign(records_.size(), false);
  for (unsigned i = 0; i < cfg_.outstanding; i++)
    sc_core::sc_spawn([this, i] { slot(i); }, sc_core::sc_gen_unique_name("slot"));
  stats_.set_name(this->name());
  for (const char *c : {"transactions", "bytes", "reads", "writes", "errors", "translation_requests",
                        "page_requests"})
    stats_.counter(c);
  stats_registry::get().add(&stats_);
}

trace_replayer::~trace_replayer() { stats_registry::get().remove(&stats_); }

void trace_replayer::start() {
  if (started_) return;
  started_ = true;
  start_ev_.notify(sc_core::SC_ZERO_TIME);
}

// One page request for r's page; true if the response allows a retry.
bool trace_replayer::try_page_request(thread_time &t, const trace_record &r, line_result *res) {
  if (!r.pri || res->page_requests >= cfg_.pri_max_retries) return false;
  page_request pr;
  pr.stream_id = r.stream_id;
  pr.ssid_valid = r.ssid_valid;
  pr.ssid = r.ssid;
  pr.addr = r.addr;
  pr.read = !r.write;
  pr.write = r.write;
  const pri_agent::outcome o = pri_.request(iommu_msg, t, {pr}, cfg_.pri_timeout_cycles);
  if (o == pri_agent::outcome::unavailable) return false;
  res->page_requests++;
  stats_.counter("page_requests")++;
  return o == pri_agent::outcome::success;
}

trace_replayer::line_result trace_replayer::replay(thread_time &t, const trace_record &r,
                                                   uint8_t *buf) {
  line_result res;
  res.line = r.line;
  dma_attrs a;
  a.stream_id = r.stream_id;
  a.ssid_valid = r.ssid_valid;
  a.ssid = r.ssid;
  const tlm::tlm_command cmd = r.write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND;
  for (;;) {
    uint64_t addr = r.addr;
    dma_attrs access = a;
    if (r.ats) {
      const ats_completion c = ats_translate(dma, t, r.addr, r.write, a);
      stats_.counter("translation_requests")++;
      if (!c.allows(r.write)) {
        if (try_page_request(t, r, &res)) continue;
        res.response = c.raw.response;
        res.status = c.raw.ext.status;
        res.fault_cls = c.raw.ext.status != iommu_status::ok ? c.raw.ext.fault_cls
                        : c.valid                           ? fault_class::permission
                                                            : fault_class::translation;
        return res;
      }
      addr = c.translate(r.addr);
      res.translated_addr = addr;
      access.at = at_kind::translated;
    }
    const dma_result d = dma_transfer(dma, t, cmd, addr, buf, r.size, access);
    res.response = d.response;
    res.status = d.ext.status;
    res.fault_cls = d.ext.fault_cls;
    res.ok = d.ok();
    if (res.ok || !d.translation_fault() || !try_page_request(t, r, &res)) return res;
  }
}

bool trace_replayer::take(thread_time &t, size_t *index, sc_core::sc_time *issue_at) {
  if (next_ >= records_.size() || stopping_) return false;
  if (!any_issued_) {
    any_issued_ = true;
    start_ = prev_issue_ = t.now();
  }
  const trace_record &r = records_[next_];
  *issue_at = std::max(prev_issue_ + clk_.cycles(r.gap_cycles), t.now());
  prev_issue_ = *issue_at;
  *index = next_++;
  return true;
}

void trace_replayer::slot(unsigned) {
  if (!started_) sc_core::wait(start_ev_);
  thread_time t(clk_);
  std::vector<uint8_t> buf(4096);
  size_t i = 0;
  sc_core::sc_time issue;
  while (take(t, &i, &issue)) {
    const trace_record &r = records_[i];
    if (issue > t.now()) t.advance(issue - t.now());
    t.advance(cfg_.issue_cycles);
    if (r.write)
      for (uint32_t k = 0; k < r.size; k++) buf[k] = static_cast<uint8_t>(r.line + k);
    line_result res = replay(t, r, buf.data());
    res.issue_cycle = clk_.to_cycles(issue - start_);
    res.latency_cycles = clk_.to_cycles(t.now() - issue);
    stats_.counter("transactions")++;
    if (res.ok) {
      stats_.counter(r.write ? "writes" : "reads")++;
      stats_.counter("bytes") += r.size;
    } else {
      stats_.counter("errors")++;
    }
    stats_.histogram("latency_cycles").add(res.latency_cycles);
    results_[i] = res;
    completed_[i] = true;
    if (!res.ok && cfg_.stop_on_error) stopping_ = true;
  }
  t.sync();
  if (--running_ > 0) return;
  // Every slot is done: keep the results of the lines that ran, in order.
  std::vector<line_result> ran;
  for (size_t k = 0; k < results_.size(); k++)
    if (completed_[k]) ran.push_back(results_[k]);
  results_.swap(ran);
  finished_ = true;
  done.notify(sc_core::SC_ZERO_TIME);
  if (on_done) on_done();
}

void trace_replayer::page_response(const models::page_response &rsp, sc_core::sc_time &delay) {
  pri_.on_response(rsp, delay);
}

// No ATC: complete at once so the IOMMU does not wait forever.
void trace_replayer::atc_invalidate(const atc_invalidation &inv, sc_core::sc_time &delay) {
  stats_.counter("unexpected_atc_invalidations")++;
  if (iommu_msg.size() == 0) return;
  const uint32_t sid = inv.stream_id, tag = inv.itag;
  later_.schedule(delay, [this, sid, tag] {
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    iommu_msg->atc_invalidation_complete(sid, tag, d);
  });
}

}  // namespace iommusim::models
