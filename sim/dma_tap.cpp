// SPDX-License-Identifier: MIT
#include "sim/dma_tap.h"

#include <cinttypes>
#include <stdexcept>

#include "models/common/iommu_extension.h"

namespace iommusim::sim {

using models::at_kind;
using models::iommu_extension;
using models::iommu_status;

txn_log::txn_log(const std::string &path) {
  f_ = std::fopen(path.c_str(), "w");
  if (!f_) throw std::runtime_error("cannot create transaction log " + path);
  std::fputs("time_ps,device,stream_id,ssid,addr,size,dir,at,status,fault_type,translate_cycles,"
             "output_addr,latency_ps\n",
             f_);
}

txn_log::~txn_log() {
  if (f_) std::fclose(f_);
}

void txn_log::write(const std::string &line) {
  std::fputs(line.c_str(), f_);
}

void txn_log::flush() { std::fflush(f_); }

namespace {
const char *at_name(at_kind a) {
  switch (a) {
    case at_kind::untranslated: return "untranslated";
    case at_kind::translation_request: return "translation_request";
    case at_kind::translated: return "translated";
  }
  return "?";
}
const char *status_name(iommu_status s) {
  switch (s) {
    case iommu_status::ok: return "ok";
    case iommu_status::fault: return "fault";
    case iommu_status::stall_terminated: return "stall_terminated";
    case iommu_status::config_abort: return "config_abort";
  }
  return "?";
}
const char *tlm_status_name(tlm::tlm_response_status s) {
  switch (s) {
    case tlm::TLM_OK_RESPONSE: return "ok";
    case tlm::TLM_INCOMPLETE_RESPONSE: return "incomplete";
    case tlm::TLM_GENERIC_ERROR_RESPONSE: return "generic_error";
    case tlm::TLM_ADDRESS_ERROR_RESPONSE: return "address_error";
    case tlm::TLM_COMMAND_ERROR_RESPONSE: return "command_error";
    case tlm::TLM_BURST_ERROR_RESPONSE: return "burst_error";
    case tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE: return "byte_enable_error";
  }
  return "?";
}
uint64_t ps(const sc_core::sc_time &t) {
  return static_cast<uint64_t>(t / sc_core::sc_time(1, sc_core::SC_PS));
}
}  // namespace

dma_tap::dma_tap(sc_core::sc_module_name name, std::string device, txn_log *log)
    : sc_core::sc_module(name),
      upstream("upstream"),
      downstream("downstream"),
      device_(std::move(device)),
      log_(log) {
  upstream.register_b_transport(this, &dma_tap::b_transport);
  upstream.register_transport_dbg(this, &dma_tap::transport_dbg);
  stats_.set_name(this->name());
  for (const char *c : {"transactions", "reads", "writes", "translation_requests", "bytes",
                        "faults", "errors"})
    stats_.counter(c);
  models::stats_registry::get().add(&stats_);
}

dma_tap::~dma_tap() { models::stats_registry::get().remove(&stats_); }

void dma_tap::b_transport(tlm::tlm_generic_payload &trans, sc_core::sc_time &delay) {
  const sc_core::sc_time issued = sc_core::sc_time_stamp() + delay;
  const uint64_t addr = trans.get_address();
  const unsigned len = trans.get_data_length();
  const bool write = trans.is_write();
  downstream->b_transport(trans, delay);
  const sc_core::sc_time completed = sc_core::sc_time_stamp() + delay;

  count_++;
  if (after) after();
  const iommu_extension *ext = trans.get_extension<iommu_extension>();
  const bool treq = ext && ext->at == at_kind::translation_request;
  stats_.counter("transactions")++;
  stats_.counter(treq ? "translation_requests" : write ? "writes" : "reads")++;
  const bool ok = trans.get_response_status() == tlm::TLM_OK_RESPONSE;
  if (ok && !treq) stats_.counter("bytes") += len;
  if (ext && ext->status != iommu_status::ok) stats_.counter("faults")++;
  else if (!ok) stats_.counter("errors")++;
  if (ext) stats_.histogram("translate_cycles").add(ext->translate_cycles);
  stats_.histogram("latency_ns").add(static_cast<uint64_t>((completed - issued) / sc_core::sc_time(1, sc_core::SC_NS)));

  if (!log_) return;
  char buf[384];
  const char *status = ext && ext->status != iommu_status::ok ? status_name(ext->status)
                       : !ok ? tlm_status_name(trans.get_response_status())
                             : "ok";
  char ssid[16] = "-";
  if (ext && ext->ssid_valid) std::snprintf(ssid, sizeof(ssid), "0x%" PRIx32, ext->ssid);
  std::snprintf(buf, sizeof(buf),
                "%" PRIu64 ",%s,0x%" PRIx32 ",%s,0x%" PRIx64 ",%u,%s,%s,%s,0x%x,%" PRIu64 ",0x%" PRIx64
                ",%" PRIu64 "\n",
                ps(issued), device_.c_str(), ext ? ext->stream_id : 0, ssid, addr, len,
                treq ? "T" : write ? "W" : "R", ext ? at_name(ext->at) : "-", status,
                ext ? ext->fault_type : 0, ext ? ext->translate_cycles : 0,
                ext ? ext->output_addr : 0, ps(completed - issued));
  log_->write(buf);
}

unsigned dma_tap::transport_dbg(tlm::tlm_generic_payload &trans) {
  return downstream->transport_dbg(trans);
}

}  // namespace iommusim::sim
