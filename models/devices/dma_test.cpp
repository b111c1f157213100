// SPDX-License-Identifier: MIT
#include "models/devices/dma_test.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace iommusim::models {

std::string dma_test_config::check() const {
  if (!(clock_mhz > 0)) return "dma_test clock_mhz must be greater than 0";
  return {};
}

dma_test::dma_test(sc_core::sc_module_name name, const dma_test_config &cfg, timing_mode mode)
    : sc_core::sc_module(name),
      dma("dma"),
      regs("regs"),
      iommu_msg("iommu_msg"),
      endpoint_msg("endpoint_msg"),
      cfg_(cfg),
      pri_("pri_responses"),
      later_("later"),
      go_("go") {
  if (const std::string why = cfg_.check(); !why.empty())
    throw std::invalid_argument(std::string(this->name()) + ": " + why);
  clk_ = clock_domain(cfg_.clock_mhz, mode);
  regs.register_b_transport(this, &dma_test::reg_access);
  regs.register_transport_dbg(this, &dma_test::reg_debug);
  endpoint_msg.bind(*this);
  SC_THREAD(run);
  stats_.set_name(this->name());
  for (const char *c : {"transfers", "dma_reads", "dma_writes", "read_bytes", "write_bytes",
                        "faults", "page_requests", "page_responses", "errors"})
    stats_.counter(c);
  stats_registry::get().add(&stats_);
}

dma_test::~dma_test() { stats_registry::get().remove(&stats_); }

// --- registers ------------------------------------------------------------------

uint64_t dma_test::reg_value(uint64_t offset) const {
  switch (offset) {
    case ID: return kId;
    case SRC: return src_;
    case DST: return dst_;
    case LEN: return len_;
    case CTRL: return ctrl_;
    case PASID: return pasid_;
    case PATTERN: return pattern_;
    case STATUS: return status_;
    case FAULT_ADDR: return fault_addr_;
    case BYTES_DONE: return bytes_done_;
    case CYCLES: return cycles_;
    default: return 0;  // GO is write-only; holes read as zero
  }
}

void dma_test::reg_write(uint64_t offset, uint64_t value, uint64_t mask,
                         const sc_core::sc_time &at) {
  auto merge = [&](uint64_t &r) { r = (r & ~mask) | (value & mask); };
  switch (offset) {
    case SRC: merge(src_); break;
    case DST: merge(dst_); break;
    case LEN: merge(len_); break;
    case CTRL: merge(ctrl_); break;
    case PASID: merge(pasid_); break;
    case PATTERN: merge(pattern_); break;
    case GO:
      if (!(value & mask & 1)) break;
      if (status_ & ST_BUSY) {
        stats_.counter("go_while_busy")++;
        break;
      }
      pending_ = {src_, dst_, len_, ctrl_, pasid_, pattern_};
      status_ = ST_BUSY;
      fault_addr_ = bytes_done_ = cycles_ = 0;
      go_time_ = at;
      go_.notify(at - sc_core::sc_time_stamp());
      break;
    default:
      break;  // read-only or unlisted: ignored
  }
}

void dma_test::reg_access(tlm::tlm_generic_payload &p, sc_core::sc_time &delay) {
  const uint64_t addr = p.get_address();
  const unsigned len = p.get_data_length();
  if (p.get_byte_enable_ptr()) {
    p.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
    return;
  }
  if ((len != 4 && len != 8) || (addr & (len - 1)) || addr >= kBarSize ||
      p.get_streaming_width() < len) {
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  const uint64_t offset = addr & ~uint64_t{7};
  const unsigned shift = static_cast<unsigned>(addr & 7) * 8;
  const uint64_t mask = len == 8 ? ~0ULL : 0xffff'ffffULL << shift;
  if (p.is_read()) {
    const uint64_t v = reg_value(offset) >> shift;
    std::memcpy(p.get_data_ptr(), &v, len);  // little-endian host
  } else if (p.is_write()) {
    uint64_t v = 0;
    std::memcpy(&v, p.get_data_ptr(), len);
    // A write takes effect at the caller's local time (fast mode annotates).
    reg_write(offset, v << shift, mask, sc_core::sc_time_stamp() + delay);
  }
  p.set_response_status(tlm::TLM_OK_RESPONSE);
}

unsigned dma_test::reg_debug(tlm::tlm_generic_payload &p) {
  const uint64_t addr = p.get_address();
  const unsigned len = p.get_data_length();
  if (!p.is_read() || (len != 4 && len != 8) || (addr & (len - 1)) || addr >= kBarSize) return 0;
  const uint64_t v = reg_value(addr & ~uint64_t{7}) >> ((addr & 7) * 8);
  std::memcpy(p.get_data_ptr(), &v, len);
  return len;
}

// --- the engine -------------------------------------------------------------------

void dma_test::run() {
  for (;;) {
    sc_core::wait(go_.default_event());
    execute(pending_);
  }
}

uint16_t dma_test::request(thread_time &t, const job &j, tlm::tlm_command cmd, uint64_t addr,
                           uint8_t *data, unsigned len) {
  dma_attrs a;
  a.stream_id = cfg_.stream_id;
  a.ssid_valid = (j.ctrl & CTRL_PASID) != 0;
  a.ssid = static_cast<uint32_t>(j.pasid);
  a.privileged = (j.ctrl & CTRL_PRIV) != 0;
  const bool write = cmd == tlm::TLM_WRITE_COMMAND;
  for (uint32_t tries = 0;; tries++) {
    t.advance(cfg_.issue_cycles);
    const dma_result r = dma_transfer(dma, t, cmd, addr, data, len, a);
    if (r.ok()) {
      stats_.counter(write ? "dma_writes" : "dma_reads")++;
      stats_.counter(write ? "write_bytes" : "read_bytes") += len;
      return ERR_NONE;
    }
    stats_.counter("faults")++;
    if (r.permission_fault()) return ERR_PERMISSION;
    if (!r.translation_fault() || !(j.ctrl & CTRL_PRI) || tries >= cfg_.pri_max_retries)
      return ERR_TRANSLATION;
    page_request pr;
    pr.stream_id = a.stream_id;
    pr.ssid_valid = a.ssid_valid;
    pr.ssid = a.ssid;
    pr.addr = addr;
    pr.read = !write;
    pr.write = write;
    pr.priv = a.privileged;
    const uint64_t before = pri_.requests_sent();
    const pri_agent::outcome o = pri_.request(iommu_msg, t, {pr}, cfg_.pri_timeout_cycles);
    stats_.counter("page_requests") += pri_.requests_sent() - before;
    if (o == pri_agent::outcome::unavailable) return ERR_TRANSLATION;
    if (o != pri_agent::outcome::timeout) stats_.counter("page_responses")++;
    if (o != pri_agent::outcome::success) return ERR_PRI;
  }
}

void dma_test::execute(const job &j) {
  thread_time t(clk_);
  stats_.counter("transfers")++;
  if (j.len == 0 || j.len > kMaxLen) {
    finish(t, ERR_LENGTH, 0);
    return;
  }
  unsigned burst_log2 = static_cast<unsigned>((j.ctrl >> CTRL_BURST_SHIFT) & 0xff);
  if (burst_log2 == 0) burst_log2 = 6;
  const uint64_t burst = uint64_t{1} << std::min(burst_log2, 12u);
  const bool fill = (j.ctrl & CTRL_FILL) != 0;
  std::vector<uint8_t> buf(burst);
  t.advance(cfg_.setup_cycles);
  for (uint64_t off = 0; off < j.len;) {
    uint64_t n = std::min({burst, j.len - off, bytes_to_4k(j.dst + off)});
    if (!fill) n = std::min(n, bytes_to_4k(j.src + off));
    const unsigned len = static_cast<unsigned>(n);
    if (fill) {
      for (unsigned i = 0; i < len; i++)
        buf[i] = static_cast<uint8_t>(j.pattern >> (((off + i) & 7) * 8));
    } else if (uint16_t e = request(t, j, tlm::TLM_READ_COMMAND, j.src + off, buf.data(), len)) {
      finish(t, e, j.src + off);
      return;
    }
    if (uint16_t e = request(t, j, tlm::TLM_WRITE_COMMAND, j.dst + off, buf.data(), len)) {
      finish(t, e, j.dst + off);
      return;
    }
    off += n;
    bytes_done_ = off;
  }
  finish(t, ERR_NONE, 0);
}

void dma_test::finish(thread_time &t, uint16_t code, uint64_t fault_addr) {
  t.sync();  // DONE becomes visible at the device's own time, in both modes
  cycles_ = clk_.to_cycles(sc_core::sc_time_stamp() - go_time_);
  fault_addr_ = fault_addr;
  status_ = ST_DONE | (code ? ST_ERROR | (uint64_t{code} << 16) : 0);
  if (code) stats_.counter("errors")++;
  stats_.histogram("transfer_cycles").add(cycles_);
  done.notify(sc_core::SC_ZERO_TIME);
  if (on_done) on_done();
}

// --- messages from the IOMMU ----------------------------------------------------------

void dma_test::page_response(const models::page_response &rsp, sc_core::sc_time &delay) {
  pri_.on_response(rsp, delay);
}

// The ATC is always empty (or absent, without ATS): an invalidation is
// completed at once so the IOMMU's wait for it ends.
void dma_test::atc_invalidate(const atc_invalidation &inv, sc_core::sc_time &delay) {
  stats_.counter(cfg_.ats ? "atc_invalidations" : "unexpected_atc_invalidations")++;
  if (iommu_msg.size() == 0) return;
  const uint32_t sid = inv.stream_id, tag = inv.itag;
  later_.schedule(delay, [this, sid, tag] {
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    iommu_msg->atc_invalidation_complete(sid, tag, d);
  });
}

}  // namespace iommusim::models
