// SPDX-License-Identifier: MIT
#include "models/devices/pri_device.h"

#include <algorithm>
#include <stdexcept>

namespace iommusim::models {

std::string pri_device_config::check() const {
  if (!(clock_mhz > 0)) return "pri_device clock_mhz must be greater than 0";
  if (requests_per_group == 0) return "pri_device requests_per_group must be at least 1";
  if (requests_per_group > outstanding_capacity)
    return "pri_device requests_per_group exceeds the outstanding page request capacity";
  for (size_t i = 0; i < program.size(); i++)
    if (program[i].len == 0) return "pri_device program[" + std::to_string(i) + "] has length 0";
  return {};
}

pri_device::pri_device(sc_core::sc_module_name name, const pri_device_config &cfg,
                       timing_mode mode)
    : sc_core::sc_module(name),
      dma("dma"),
      iommu_msg("iommu_msg"),
      endpoint_msg("endpoint_msg"),
      cfg_(cfg),
      pri_("pri_responses"),
      later_("later") {
  if (const std::string why = cfg_.check(); !why.empty())
    throw std::invalid_argument(std::string(this->name()) + ": " + why);
  clk_ = clock_domain(cfg_.clock_mhz, mode);
  endpoint_msg.bind(*this);
  if (!cfg_.program.empty()) SC_THREAD(run_program);
  stats_.set_name(this->name());
  for (const char *c : {"transactions", "requests", "faults", "retries", "page_requests",
                        "prg_responses", "prg_success", "prg_invalid", "prg_failure",
                        "prg_timeouts", "errors"})
    stats_.counter(c);
  stats_registry::get().add(&stats_);
}

pri_device::~pri_device() { stats_registry::get().remove(&stats_); }

bool pri_device::piece(thread_time &t, const pri_access &a, uint64_t addr, uint8_t *data,
                       unsigned len, result *res) {
  dma_attrs attrs;
  attrs.stream_id = cfg_.stream_id;
  attrs.ssid_valid = a.ssid_valid;
  attrs.ssid = a.ssid;
  attrs.privileged = a.privileged;
  const tlm::tlm_command cmd = a.write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND;
  for (uint32_t tries = 0;; tries++) {
    t.advance(cfg_.issue_cycles);
    res->last = dma_transfer(dma, t, cmd, addr, data, len, attrs);
    stats_.counter("requests")++;
    if (tries) stats_.counter("retries")++;
    if (res->last.ok()) return true;
    stats_.counter("faults")++;
    res->fault_cls = res->last.ext.fault_cls;
    if (!res->last.translation_fault() || tries >= cfg_.max_retries) return false;

    std::vector<page_request> group(cfg_.requests_per_group);
    for (unsigned i = 0; i < group.size(); i++) {
      page_request &pr = group[i];
      pr.stream_id = cfg_.stream_id;
      pr.ssid_valid = a.ssid_valid;
      pr.ssid = a.ssid;
      pr.addr = (addr & ~uint64_t{4095}) + uint64_t{4096} * i;
      pr.read = !a.write;
      pr.write = a.write;
      pr.priv = a.privileged;
    }
    const uint64_t before = pri_.requests_sent();
    res->pri = pri_.request(iommu_msg, t, std::move(group), cfg_.response_timeout_cycles);
    const uint64_t sent = pri_.requests_sent() - before;
    res->page_requests += static_cast<unsigned>(sent);
    stats_.counter("page_requests") += sent;
    if (res->pri == pri_agent::outcome::unavailable) return false;
    res->groups++;
    switch (res->pri) {
      case pri_agent::outcome::success: stats_.counter("prg_success")++; break;
      case pri_agent::outcome::invalid_request: stats_.counter("prg_invalid")++; break;
      case pri_agent::outcome::response_failure: stats_.counter("prg_failure")++; break;
      case pri_agent::outcome::timeout: stats_.counter("prg_timeouts")++; break;
      case pri_agent::outcome::unavailable: break;
    }
    if (res->pri != pri_agent::outcome::timeout) stats_.counter("prg_responses")++;
    if (res->pri != pri_agent::outcome::success) return false;
  }
}

pri_device::result pri_device::access(thread_time &t, const pri_access &a, uint8_t *data) {
  result res;
  const sc_core::sc_time start = t.now();
  stats_.counter("transactions")++;
  res.ok = true;
  res.ok = for_each_4k_piece(a.addr, a.len, [&](uint64_t at, uint64_t off, unsigned n) {
    return piece(t, a, at, data + off, n, &res);
  });
  if (!res.ok) stats_.counter("errors")++;
  res.cycles = clk_.to_cycles(t.now() - start);
  stats_.histogram("latency_cycles").add(res.cycles);
  return res;
}

void pri_device::run_program() {
  thread_time t(clk_);
  run_scripted_program(t, cfg_.program, &results_,
                       [this](thread_time &tt, const pri_access &a, uint8_t *data) { return access(tt, a, data); });
  t.sync();
  finished_ = true;
  done.notify(sc_core::SC_ZERO_TIME);
  if (on_done) on_done();
}

void pri_device::page_response(const models::page_response &rsp, sc_core::sc_time &delay) {
  pri_.on_response(rsp, delay);
}

// No ATC: complete at once so the IOMMU does not wait forever.
void pri_device::atc_invalidate(const atc_invalidation &inv, sc_core::sc_time &delay) {
  stats_.counter("unexpected_atc_invalidations")++;
  if (iommu_msg.size() == 0) return;
  const uint32_t sid = inv.stream_id, tag = inv.itag;
  later_.schedule(delay, [this, sid, tag] {
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    iommu_msg->atc_invalidation_complete(sid, tag, d);
  });
}

}  // namespace iommusim::models
