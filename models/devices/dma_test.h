// SPDX-License-Identifier: MIT
// The DMA test device (docs/platform.md, "The DMA test device"): a BAR0 of
// 64-bit little-endian registers; GO starts a copy SRC -> DST (DMA reads and
// writes) or a fill of DST with PATTERN, in bursts of BURST bytes, through the
// device's IOMMU. Completion raises the device's interrupt (on_done).
//
// Choices the register map leaves open:
//  - Register access: 4- or 8-byte, naturally aligned; others get
//    TLM_ADDRESS_ERROR_RESPONSE. Unlisted offsets read 0, writes are ignored.
//    A GO while BUSY is ignored. Registers are latched at GO.
//  - BURST (CTRL bits 8..15) is log2 bytes; 0 means the default 6 (64 B);
//    values above 12 act as 12: a request never crosses 4 KiB (PCIe §2.2.7),
//    so every burst is also cut at 4 KiB boundaries of SRC and DST.
//  - Fill: byte i of DST gets byte (i mod 8) of PATTERN (little-endian).
//  - Errors end the transfer at the first failing request: FAULT_ADDR is its
//    address, BYTES_DONE what was written before it. Code 1 covers every
//    failure that is not a permission fault (translation fault, bad STE,
//    address error behind the IOMMU); 4: LEN is 0 or above 16 MiB.
//  - PRI (CTRL bit 3): on a translation fault, one page request (last = 1, a
//    new PRG index) for the faulting page, then wait for the PRG response and
//    retry; success -> retry (up to pri_max_retries page requests per
//    request), INVALID / FAILURE / timeout -> code 3. Without a bound PRI
//    port, or after pri_max_retries, the fault ends the transfer as code 1.
//
// Timing (device clock, both modes): GO .. first request setup_cycles; each
// request issue_cycles before it is sent, then whatever the IOMMU and memory
// take. CYCLES = device cycles from the GO write to DONE. In fast mode the
// device synchronises before it sets DONE, so DONE is seen at the same
// simulated time in both modes.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <cstdint>
#include <functional>

#include "models/common/pcie_messages.h"
#include "models/common/stats.h"
#include "models/common/timing.h"
#include "models/devices/dma_port.h"

namespace iommusim::models {

struct dma_test_config {
  double clock_mhz = 1000;
  uint32_t stream_id = 0;
  uint32_t setup_cycles = 2;     // GO to the first request
  uint32_t issue_cycles = 1;     // before each request
  uint32_t pri_max_retries = 4;  // page requests for one request before giving up
  uint64_t pri_timeout_cycles = 0;  // 0: wait for the PRG response forever
  // Advertises ATS (PCIe PRI requires it) with an ATC that never holds an
  // entry: no translation requests; invalidations complete at once.
  bool ats = false;
  std::string check() const;     // empty if usable
};

class dma_test : public sc_core::sc_module, public endpoint_message_if {
 public:
  // BAR0 register offsets.
  enum reg : uint64_t {
    ID = 0x00, SRC = 0x08, DST = 0x10, LEN = 0x18, CTRL = 0x20, PASID = 0x28,
    PATTERN = 0x30, GO = 0x38, STATUS = 0x40, FAULT_ADDR = 0x48, BYTES_DONE = 0x50,
    CYCLES = 0x58,
  };
  static constexpr uint64_t kId = 0x1a3a'd0a1'0000'0001ULL;
  static constexpr uint64_t kBarSize = 4096;
  static constexpr uint64_t kMaxLen = 16ULL << 20;
  // CTRL bits
  static constexpr uint64_t CTRL_FILL = 1u << 0, CTRL_PASID = 1u << 1, CTRL_PRIV = 1u << 2,
                            CTRL_PRI = 1u << 3;
  static constexpr unsigned CTRL_BURST_SHIFT = 8;
  // STATUS bits and error codes (bits 16..31)
  static constexpr uint64_t ST_BUSY = 1, ST_DONE = 2, ST_ERROR = 4;
  enum error_code : uint16_t {
    ERR_NONE = 0, ERR_TRANSLATION = 1, ERR_PERMISSION = 2, ERR_PRI = 3, ERR_LENGTH = 4,
  };

  tlm_utils::simple_initiator_socket<dma_test> dma;  // to the IOMMU's upstream port
  tlm_utils::simple_target_socket<dma_test> regs;    // BAR0, from the host CPU bus
  sc_core::sc_port<iommu_message_if, 1, sc_core::SC_ZERO_OR_MORE_BOUND> iommu_msg;  // PRI up
  sc_core::sc_export<endpoint_message_if> endpoint_msg;  // PRG responses down

  std::function<void()> on_done;  // the interrupt; the platform wires it
  sc_core::sc_event done;         // notified at DONE

  SC_HAS_PROCESS(dma_test);
  dma_test(sc_core::sc_module_name name, const dma_test_config &cfg, timing_mode mode);
  ~dma_test() override;

  // The register as a 64-bit read would return it (tests, debug).
  uint64_t reg_value(uint64_t offset) const;
  const dma_test_config &config() const { return cfg_; }
  const clock_domain &clock() const { return clk_; }
  stats_group &stats() { return stats_; }

  // endpoint_message_if
  void page_response(const models::page_response &rsp, sc_core::sc_time &delay) override;
  void atc_invalidate(const atc_invalidation &inv, sc_core::sc_time &delay) override;

 private:
  struct job {
    uint64_t src, dst, len, ctrl, pasid, pattern;
  };
  void reg_access(tlm::tlm_generic_payload &p, sc_core::sc_time &delay);
  unsigned reg_debug(tlm::tlm_generic_payload &p);
  void reg_write(uint64_t offset, uint64_t value, uint64_t mask, const sc_core::sc_time &at);
  void run();
  void execute(const job &j);
  // One request with PRI retries; returns ERR_NONE or the error code.
  uint16_t request(thread_time &t, const job &j, tlm::tlm_command cmd, uint64_t addr,
                   uint8_t *data, unsigned len);
  void finish(thread_time &t, uint16_t code, uint64_t fault_addr);

  dma_test_config cfg_;
  clock_domain clk_;
  pri_agent pri_;
  deferred_calls later_;
  // registers
  uint64_t src_ = 0, dst_ = 0, len_ = 0, ctrl_ = 0, pasid_ = 0, pattern_ = 0;
  uint64_t status_ = 0, fault_addr_ = 0, bytes_done_ = 0, cycles_ = 0;
  sc_core::sc_event_queue go_;
  sc_core::sc_time go_time_;
  job pending_{};
  stats_group stats_;
};

}  // namespace iommusim::models
