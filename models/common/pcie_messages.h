// SPDX-License-Identifier: MIT
// Messages between an endpoint and its IOMMU outside the memory path: PCIe
// PRI page requests (up) and page responses (down), ATS invalidation requests
// (down) and their completions (up). Endpoints and IOMMUs bind these
// interfaces with sc_port/sc_export.
#pragma once

#include <systemc>

#include <cstdint>

namespace iommusim::models {

// A PCIe Page Request Message (PCIe 6.0 §10.4.1).
struct page_request {
  uint32_t stream_id = 0;
  bool ssid_valid = false;
  uint32_t ssid = 0;
  uint64_t addr = 0;        // page aligned
  bool read = false, write = false, exec = false, priv = false;
  uint16_t grpid = 0;       // Page Request Group index
  bool last = true;         // Last Request In PRG
};

// A PRG Response Message (PCIe 6.0 §10.4.2).
enum class prg_response_code : uint8_t { success = 0, invalid_request = 1, response_failure = 0xf };
struct page_response {
  uint32_t stream_id = 0;
  bool ssid_valid = false;
  uint32_t ssid = 0;
  uint16_t grpid = 0;
  prg_response_code code = prg_response_code::success;
};

// An ATS Invalidation Request (PCIe 6.0 §10.3.1): invalidate ATC entries of
// [addr, addr + 2^size_log2) (global: every PASID).
struct atc_invalidation {
  uint32_t stream_id = 0;
  bool ssid_valid = false;
  uint32_t ssid = 0;
  uint64_t addr = 0;
  uint8_t size_log2 = 12;
  bool global = false;
  uint32_t itag = 0;        // completes with the same tag
};

// Implemented by an IOMMU, called by its endpoints.
class iommu_message_if : public virtual sc_core::sc_interface {
 public:
  virtual void page_request(const page_request &req, sc_core::sc_time &delay) = 0;
  virtual void atc_invalidation_complete(uint32_t stream_id, uint32_t itag,
                                         sc_core::sc_time &delay) = 0;
};

// Implemented by an endpoint, called by its IOMMU.
class endpoint_message_if : public virtual sc_core::sc_interface {
 public:
  virtual void page_response(const page_response &rsp, sc_core::sc_time &delay) = 0;
  virtual void atc_invalidate(const atc_invalidation &inv, sc_core::sc_time &delay) = 0;
};

}  // namespace iommusim::models
