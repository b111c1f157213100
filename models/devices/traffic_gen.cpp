// SPDX-License-Identifier: MIT
#include "models/devices/traffic_gen.h"

#include <algorithm>
#include <bit>
#include <stdexcept>

namespace iommusim::models {

bool parse_traffic_pattern(const std::string &s, traffic_pattern *out) {
  if (s == "sequential" || s == "seq") *out = traffic_pattern::sequential;
  else if (s == "random") *out = traffic_pattern::random;
  else if (s == "strided" || s == "stride") *out = traffic_pattern::strided;
  else return false;
  return true;
}

std::string traffic_config::check() const {
  if (!(clock_mhz > 0)) return "traffic clock_mhz must be greater than 0";
  if (transfer_size == 0 || transfer_size > 4096 || !std::has_single_bit(transfer_size))
    return "traffic transfer_size must be a power of two from 1 to 4096";
  if (size == 0 || size % transfer_size) return "traffic size must be a non-zero multiple of transfer_size";
  if (base % transfer_size) return "traffic base must be aligned to transfer_size";
  if (base + size < base && base + size != 0) return "traffic range wraps past the top of the address space";
  if (pattern == traffic_pattern::strided && (stride == 0 || stride % transfer_size))
    return "traffic stride must be a non-zero multiple of transfer_size";
  if (!(read_fraction >= 0.0 && read_fraction <= 1.0)) return "traffic read_fraction must be in [0, 1]";
  if (outstanding == 0) return "traffic outstanding must be at least 1";
  if (count == 0 && duration_cycles == 0) return "traffic needs a count or a duration_cycles";
  return {};
}

// Draw order per transaction: one draw for the direction, then one for the
// address if random. mt19937_64 is fully specified, so plans are portable;
// the [0, 1) mapping uses the top 53 bits.
traffic_gen::planned traffic_gen::sequencer::next(uint64_t i) {
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  planned p{};
  p.write = !(u < cfg.read_fraction);
  const uint64_t slots = cfg.size / cfg.transfer_size;
  uint64_t off = 0;
  switch (cfg.pattern) {
    case traffic_pattern::sequential:
      off = (i % slots) * cfg.transfer_size;
      break;
    case traffic_pattern::random:
      off = (rng() % slots) * cfg.transfer_size;
      break;
    case traffic_pattern::strided:
      off = static_cast<uint64_t>((static_cast<unsigned __int128>(i) * cfg.stride) % cfg.size);
      break;
  }
  p.addr = cfg.base + off;
  return p;
}

std::vector<traffic_gen::planned> traffic_gen::plan(const traffic_config &cfg, uint64_t n) {
  sequencer s(cfg);
  std::vector<planned> out;
  out.reserve(n);
  for (uint64_t i = 0; i < n; i++) out.push_back(s.next(i));
  return out;
}

traffic_gen::traffic_gen(sc_core::sc_module_name name, const traffic_config &cfg, timing_mode mode)
    : sc_core::sc_module(name),
      dma("dma"),
      iommu_msg("iommu_msg"),
      endpoint_msg("endpoint_msg"),
      cfg_(cfg),
      seq_(cfg_),
      later_("later") {
  if (const std::string why = cfg_.check(); !why.empty())
    throw std::invalid_argument(std::string(this->name()) + ": " + why);
  clk_ = clock_domain(cfg_.clock_mhz, mode);
  endpoint_msg.bind(*this);
  started_ = cfg_.autostart;
  running_ = cfg_.outstanding;
  for (unsigned i = 0; i < cfg_.outstanding; i++)
    sc_core::sc_spawn([this, i] { slot(i); }, sc_core::sc_gen_unique_name("slot"));
  stats_.set_name(this->name());
  for (const char *c : {"transactions", "bytes", "reads", "writes", "errors", "elapsed_cycles"})
    stats_.counter(c);
  stats_registry::get().add(&stats_);
}

traffic_gen::~traffic_gen() { stats_registry::get().remove(&stats_); }

void traffic_gen::start() {
  if (started_) return;
  started_ = true;
  start_ev_.notify(sc_core::SC_ZERO_TIME);
}

bool traffic_gen::take(thread_time &t, uint64_t *index, planned *p, sc_core::sc_time *issue_at) {
  if (cfg_.count && issued_ >= cfg_.count) return false;
  const sc_core::sc_time at = std::max(t.now(), next_issue_);
  if (cfg_.duration_cycles && any_issued_ && at >= first_issue_ + clk_.cycles(cfg_.duration_cycles))
    return false;
  if (!any_issued_) {
    any_issued_ = true;
    first_issue_ = at;
  }
  *issue_at = at;
  next_issue_ = at + clk_.cycles(cfg_.gap_cycles);
  *index = issued_++;
  *p = seq_.next(*index);
  return true;
}

void traffic_gen::slot(unsigned) {
  if (!started_) sc_core::wait(start_ev_);
  thread_time t(clk_);
  dma_attrs a;
  a.stream_id = cfg_.stream_id;
  a.ssid_valid = cfg_.ssid_valid;
  a.ssid = cfg_.ssid;
  a.privileged = cfg_.privileged;
  std::vector<uint8_t> buf(cfg_.transfer_size);
  uint64_t i = 0;
  planned p{};
  sc_core::sc_time issue_at;
  while (take(t, &i, &p, &issue_at)) {
    if (issue_at > t.now()) t.advance(issue_at - t.now());
    t.advance(cfg_.issue_cycles);
    if (p.write)
      for (size_t k = 0; k < buf.size(); k++) buf[k] = static_cast<uint8_t>(i + k);
    const dma_result r = dma_transfer(dma, t, p.write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND,
                                      p.addr, buf.data(), cfg_.transfer_size, a);
    stats_.counter("transactions")++;
    if (r.ok()) {
      stats_.counter(p.write ? "writes" : "reads")++;
      stats_.counter("bytes") += cfg_.transfer_size;
    } else {
      stats_.counter("errors")++;
    }
    stats_.histogram("latency_cycles").add(clk_.to_cycles(t.now() - issue_at));
    last_done_ = std::max(last_done_, t.now());
  }
  t.sync();
  if (--running_ == 0) {
    finished_ = true;
    stats_.counter("elapsed_cycles") = elapsed_cycles();
    done.notify(sc_core::SC_ZERO_TIME);
    if (on_done) on_done();
  }
}

uint64_t traffic_gen::elapsed_cycles() const {
  if (!any_issued_ || last_done_ <= first_issue_) return 0;
  return clk_.to_cycles(last_done_ - first_issue_);
}

double traffic_gen::achieved_bytes_per_cycle() const {
  const uint64_t c = elapsed_cycles();
  return c ? static_cast<double>(stats_.get("bytes")) / static_cast<double>(c) : 0.0;
}

// No PRI or ATC: count what an IOMMU should not have sent, and complete
// invalidations so the IOMMU does not wait forever.
void traffic_gen::page_response(const models::page_response &, sc_core::sc_time &) {
  stats_.counter("unexpected_page_responses")++;
}

void traffic_gen::atc_invalidate(const atc_invalidation &inv, sc_core::sc_time &delay) {
  stats_.counter("unexpected_atc_invalidations")++;
  if (iommu_msg.size() == 0) return;
  const uint32_t sid = inv.stream_id, tag = inv.itag;
  later_.schedule(delay, [this, sid, tag] {
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    iommu_msg->atc_invalidation_complete(sid, tag, d);
  });
}

}  // namespace iommusim::models
