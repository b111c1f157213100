// SPDX-License-Identifier: MIT
// What an IOMMU sees of a transaction, carried on a TLM-2.0 generic payload.
//
// Upstream of an IOMMU (device -> IOMMU) a payload without this extension is
// an error (TLM_GENERIC_ERROR_RESPONSE): every DMA master names its stream.
// The IOMMU fills the response fields before returning.
#pragma once

#include <tlm>

#include <cstdint>

namespace iommusim::models {

// PCIe address type (the AT field) / AXI "already translated" attribute.
enum class at_kind : uint8_t {
  untranslated = 0,       // an IOVA: translate
  translation_request = 1,  // ATS Translation Request: no data, return the translation
  translated = 2,         // ATS-translated: a physical address (allowed only if the STE says so)
};

// Why a transaction did not complete (the response's iommu_status).
enum class iommu_status : uint8_t {
  ok = 0,
  fault = 1,          // terminated: an event was (or could be) recorded
  stall_terminated,   // stalled, then terminated by CMD_RESUME(ABORT)/STALL_TERM
  config_abort,       // STE abort / bypass disabled: dropped without an event
};

// Architecture-neutral class of a fault, so an endpoint can report what kind
// of fault ended its DMA (dma_test's error code) or decide to raise a page
// request (translation faults only) without decoding fault_type.
enum class fault_class : uint8_t {
  unspecified = 0,  // the IOMMU did not say: endpoints treat it as translation
  translation,      // no valid translation (invalid descriptor, out of range, AF)
  permission,       // a translation exists but does not allow the access
  other,            // configuration, address size, external abort
};

struct iommu_extension : tlm::tlm_extension<iommu_extension> {
  // --- request (set by the initiator) ---
  uint32_t stream_id = 0;       // SMMU StreamID / PCIe RequesterID (bus:dev.fn)
  bool ssid_valid = false;      // PASID TLP prefix present
  uint32_t ssid = 0;            // SubstreamID / PASID
  bool privileged = false;      // PASID "Privileged Mode Requested" / AxPROT[0]
  bool instruction = false;     // PASID "Execute Requested" / AxPROT[2]
  at_kind at = at_kind::untranslated;
  bool no_write = false;        // ATS translation request: read-only (NW) requested

  // --- response (set by the IOMMU) ---
  iommu_status status = iommu_status::ok;
  uint8_t fault_type = 0;       // architecture-specific code (SMMU event id / VT-d fault reason)
  fault_class fault_cls = fault_class::unspecified;  // status == fault: what kind
  uint64_t output_addr = 0;     // translated address (also of an ATS completion)
  uint8_t output_page_shift = 12;  // ATS: size of the translated range
  bool out_read = false;        // ATS completion: R
  bool out_write = false;       // ATS completion: W
  bool out_exec = false;
  bool out_priv = false;
  uint64_t translate_cycles = 0;  // IOMMU-clock cycles this transaction spent in translation

  tlm::tlm_extension_base *clone() const override { return new iommu_extension(*this); }
  void copy_from(const tlm::tlm_extension_base &ext) override {
    *this = static_cast<const iommu_extension &>(ext);
  }
  void reset_response() {
    status = iommu_status::ok;
    fault_type = 0;
    fault_cls = fault_class::unspecified;
    output_addr = 0;
    output_page_shift = 12;
    out_read = out_write = out_exec = out_priv = false;
    translate_cycles = 0;
  }
};

// An atomic read-modify-write on memory (hardware table updates: HTTU access
// flag / dirty state, VT-d A/D bits). The payload is a TLM_WRITE_COMMAND of
// 8 bytes carrying `desired`; memory writes it only if the current value is
// `expected` and returns the value it found in `observed`.
struct atomic_extension : tlm::tlm_extension<atomic_extension> {
  uint64_t expected = 0;
  uint64_t observed = 0;
  bool success = false;
  tlm::tlm_extension_base *clone() const override { return new atomic_extension(*this); }
  void copy_from(const tlm::tlm_extension_base &ext) override {
    *this = static_cast<const atomic_extension &>(ext);
  }
};

}  // namespace iommusim::models
