// SPDX-License-Identifier: MIT
// Test-bench parts both IOMMU models' benches use (smmuv3_test_util.h,
// vtd_test_util.h): a memory with fixed latencies (so cycle counts can be
// derived by hand), error injection and a write log; a PCIe endpoint that
// records page responses and ATC invalidations; a bump allocator; and the
// harness base that runs a test body in a SystemC thread and reaches the
// registers over TLM as a CPU would.
#pragma once

#include <gtest/gtest.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "models/common/iommu_extension.h"
#include "models/common/pcie_messages.h"
#include "models/common/timing.h"

namespace iommu_test {

using namespace iommusim::models;
using sc_core::sc_time;
using sc_core::SC_NS;
using sc_core::SC_ZERO_TIME;

// ------------------------------------------------------------------ memory

// Sparse memory: every access takes `read_latency` / `write_latency` cycles
// of a 1 GHz clock (independent of size and of other accesses: no ports), a
// compare-and-swap takes both. Addresses in a failing range answer
// TLM_ADDRESS_ERROR_RESPONSE.
class test_memory : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<test_memory> socket;
  uint32_t read_latency = 20;
  uint32_t write_latency = 10;

  struct write_rec {
    uint64_t addr;
    unsigned len;
    uint64_t value;  // first 8 bytes
    sc_time when;
  };
  std::vector<write_rec> writes;
  sc_core::sc_event written;
  uint64_t reads = 0;

  test_memory(sc_core::sc_module_name n, timing_mode mode) : sc_module(n), socket("socket"), mode_(mode) {
    socket.register_b_transport(this, &test_memory::b_transport);
    socket.register_transport_dbg(this, &test_memory::transport_dbg);
  }

  void fail_range(uint64_t lo, uint64_t hi) { fails_.push_back({lo, hi}); }
  // Only writes (and atomics) to [lo, hi) fail.
  void fail_write_range(uint64_t lo, uint64_t hi) { write_fails_.push_back({lo, hi}); }
  bool failing(uint64_t a, uint64_t len) const { return hits(fails_, a, len); }

  void write(uint64_t a, const void *src, size_t len) {
    const auto *s = static_cast<const uint8_t *>(src);
    for (size_t i = 0; i < len; i++) byte(a + i) = s[i];
  }
  void read(uint64_t a, void *dst, size_t len) {
    auto *d = static_cast<uint8_t *>(dst);
    for (size_t i = 0; i < len; i++) d[i] = byte(a + i);
  }
  void write64(uint64_t a, uint64_t v) { write(a, &v, 8); }
  uint64_t read64(uint64_t a) {
    uint64_t v;
    read(a, &v, 8);
    return v;
  }
  uint32_t read32(uint64_t a) {
    uint32_t v;
    read(a, &v, 4);
    return v;
  }
  // The time of the last write to [a, a + 4), or a negative time.
  bool last_write_time(uint64_t a, sc_time *t) const {
    for (auto it = writes.rbegin(); it != writes.rend(); ++it)
      if (it->addr <= a && a < it->addr + it->len) {
        *t = it->when;
        return true;
      }
    return false;
  }

 private:
  static bool hits(const std::vector<std::pair<uint64_t, uint64_t>> &v, uint64_t a, uint64_t len) {
    for (auto &[lo, hi] : v)
      if (a < hi && a + len > lo) return true;
    return false;
  }
  uint8_t &byte(uint64_t a) {
    auto &p = pages_[a >> 12];
    if (!p) p = std::make_unique<uint8_t[]>(4096);  // zeroed
    return p[a & 0xfff];
  }
  void b_transport(int, tlm::tlm_generic_payload &tr, sc_time &delay) {
    const uint64_t a = tr.get_address();
    const unsigned len = tr.get_data_length();
    auto *atomic = tr.get_extension<atomic_extension>();
    const uint32_t lat = atomic ? read_latency + write_latency
                         : tr.is_read() ? read_latency
                                        : write_latency;
    if (mode_ == timing_mode::cycle) {
      sc_core::wait(sc_time(lat, SC_NS) + delay);
      delay = SC_ZERO_TIME;
    } else {
      delay += sc_time(lat, SC_NS);
    }
    bool fail = hits(fails_, a, len);
    if (!tr.is_read()) fail |= hits(write_fails_, a, len);
    if (fail) {
      tr.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
      return;
    }
    if (atomic) {
      uint64_t cur = read64(a), want;
      std::memcpy(&want, tr.get_data_ptr(), 8);
      atomic->observed = cur;
      atomic->success = cur == atomic->expected;
      if (atomic->success) write64(a, want);
      log_write(a, 8, want, delay);
    } else if (tr.is_read()) {
      reads++;
      read(a, tr.get_data_ptr(), len);
    } else {
      write(a, tr.get_data_ptr(), len);
      uint64_t v = 0;
      std::memcpy(&v, tr.get_data_ptr(), len < 8 ? len : 8);
      log_write(a, len, v, delay);
    }
    tr.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  void log_write(uint64_t a, unsigned len, uint64_t v, const sc_time &delay) {
    writes.push_back({a, len, v, sc_core::sc_time_stamp() + delay});
    written.notify(SC_ZERO_TIME);
  }
  unsigned transport_dbg(int, tlm::tlm_generic_payload &tr) {
    const uint64_t a = tr.get_address();
    const unsigned len = tr.get_data_length();
    if (failing(a, len)) return 0;
    if (tr.is_read()) read(a, tr.get_data_ptr(), len);
    else write(a, tr.get_data_ptr(), len);
    return len;
  }
  timing_mode mode_;
  std::vector<std::pair<uint64_t, uint64_t>> fails_, write_fails_;
  std::map<uint64_t, std::unique_ptr<uint8_t[]>> pages_;
};

// ------------------------------------------------------------------ endpoint

// A PCIe endpoint: records page responses and ATC invalidations; completes
// invalidations after `atc_delay` (never if `atc_never`).
class test_endpoint : public sc_core::sc_module, public endpoint_message_if {
 public:
  std::vector<iommusim::models::page_response> responses;
  std::vector<atc_invalidation> invalidations;
  sc_time atc_delay = sc_time(50, SC_NS);
  bool atc_never = false;
  int itag_offset = 0;  // answer with a wrong ITag (ICE tests)
  iommu_message_if *iommu = nullptr;

  explicit test_endpoint(sc_core::sc_module_name n) : sc_module(n) {
    SC_HAS_PROCESS(test_endpoint);
    SC_THREAD(completer);
  }
  void page_response(const iommusim::models::page_response &rsp, sc_time &) override {
    responses.push_back(rsp);
  }
  void atc_invalidate(const atc_invalidation &inv, sc_time &) override {
    invalidations.push_back(inv);
    if (!atc_never) {
      pending_.push_back(inv);
      kick_.notify(SC_ZERO_TIME);
    }
  }

 private:
  void completer() {
    for (;;) {
      wait(kick_);
      while (!pending_.empty()) {
        const auto inv = pending_.front();
        pending_.erase(pending_.begin());
        wait(atc_delay);
        sc_time d = SC_ZERO_TIME;
        iommu->atc_invalidation_complete(inv.stream_id, inv.itag + itag_offset, d);
      }
    }
  }
  std::vector<atc_invalidation> pending_;
  sc_core::sc_event kick_;
};

// ------------------------------------------------------------------ tables

// A bump allocator of table and queue memory (kernel RAM, platform.md).
struct allocator {
  uint64_t next = 0x8000'0000ull;
  uint64_t alloc(uint64_t bytes, uint64_t align = 4096) {
    next = (next + align - 1) & ~(align - 1);
    const uint64_t a = next;
    next += bytes;
    return a;
  }
};

// ------------------------------------------------------------------ harness

struct dma_result {
  tlm::tlm_response_status resp = tlm::TLM_INCOMPLETE_RESPONSE;
  iommu_extension ext;
  sc_time elapsed;
  bool ok() const { return resp == tlm::TLM_OK_RESPONSE && ext.status == iommu_status::ok; }
};

// What every model's harness does the same way: run a body in a SystemC
// thread, and reach the register frame over `reg_port` as a CPU would.
class harness_base : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<harness_base> reg_port;

  explicit harness_base(sc_core::sc_module_name n) : sc_module(n), reg_port("reg_port") {
    sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  }

  // Run body in a SystemC thread, then stop.
  void run(std::function<void()> body) {
    sc_core::sc_spawn([body] {
      body();
      sc_core::sc_stop();
    });
    sc_core::sc_start();
  }

  void sync_time(sc_time &d) {
    if (d != SC_ZERO_TIME) {
      wait(d);
      d = SC_ZERO_TIME;
    }
  }

  uint64_t reg(uint32_t off, unsigned len = 4) {
    uint64_t v = 0;
    EXPECT_TRUE(reg_access(tlm::TLM_READ_COMMAND, off, &v, len)) << "register read " << off;
    return v;
  }
  void set_reg(uint32_t off, uint64_t v, unsigned len = 4) {
    EXPECT_TRUE(reg_access(tlm::TLM_WRITE_COMMAND, off, &v, len)) << "register write " << off;
  }

 private:
  bool reg_access(tlm::tlm_command cmd, uint32_t off, uint64_t *v, unsigned len) {
    tlm::tlm_generic_payload tr;
    tr.set_command(cmd);
    tr.set_address(off);
    tr.set_data_ptr(reinterpret_cast<unsigned char *>(v));
    tr.set_data_length(len);
    tr.set_streaming_width(len);
    sc_time d = SC_ZERO_TIME;
    reg_port->b_transport(tr, d);
    sync_time(d);
    return tr.is_response_ok();
  }
};

}  // namespace iommu_test
