// SPDX-License-Identifier: MIT
// Small SystemC pieces shared by the common_* and devices_* testbenches: an
// initiator that runs a test's script in an SC_THREAD, a recording target, and
// a frame_backing over a test-owned buffer.
#pragma once

#include <gtest/gtest.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <vector>

#include "models/common/iommu_extension.h"
#include "models/common/memory.h"

namespace iommusim::testing {

inline sc_core::sc_time ns(double v) { return sc_core::sc_time(v, sc_core::SC_NS); }

// Runs body() in an SC_THREAD; access() issues one blocking transaction.
struct script_initiator : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<script_initiator> socket;
  std::function<void(script_initiator &)> body;
  bool finished = false;

  SC_HAS_PROCESS(script_initiator);
  explicit script_initiator(sc_core::sc_module_name n) : sc_core::sc_module(n), socket("socket") {
    SC_THREAD(run);
  }
  void run() {
    if (body) body(*this);
    finished = true;
  }
  // One transaction; `delay` is the annotated delay in and out. ext (if any)
  // is attached for the call and detached after.
  template <typename Ext = models::atomic_extension>
  tlm::tlm_response_status access(tlm::tlm_command cmd, uint64_t addr, void *data, unsigned len,
                                  sc_core::sc_time &delay, Ext *ext = nullptr,
                                  const uint8_t *be = nullptr, unsigned be_len = 0) {
    tlm::tlm_generic_payload p;
    p.set_command(cmd);
    p.set_address(addr);
    p.set_data_ptr(static_cast<uint8_t *>(data));
    p.set_data_length(len);
    p.set_streaming_width(len);
    p.set_byte_enable_ptr(const_cast<uint8_t *>(be));
    p.set_byte_enable_length(be_len);
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    if (ext) p.set_extension(ext);
    socket->b_transport(p, delay);
    if (ext) p.clear_extension(ext);
    return p.get_response_status();
  }
  tlm::tlm_response_status read(uint64_t addr, void *data, unsigned len, sc_core::sc_time &delay) {
    return access(tlm::TLM_READ_COMMAND, addr, data, len, delay);
  }
  tlm::tlm_response_status write(uint64_t addr, const void *data, unsigned len,
                                 sc_core::sc_time &delay) {
    return access(tlm::TLM_WRITE_COMMAND, addr, const_cast<void *>(data), len, delay);
  }
  unsigned dbg(tlm::tlm_command cmd, uint64_t addr, void *data, unsigned len) {
    tlm::tlm_generic_payload p;
    p.set_command(cmd);
    p.set_address(addr);
    p.set_data_ptr(static_cast<uint8_t *>(data));
    p.set_data_length(len);
    return socket->transport_dbg(p);
  }
};

// Runs body() in an SC_THREAD (a test's driver of a device API).
struct script_thread : sc_core::sc_module {
  std::function<void()> body;
  bool finished = false;
  SC_HAS_PROCESS(script_thread);
  explicit script_thread(sc_core::sc_module_name n) : sc_core::sc_module(n) { SC_THREAD(run); }
  void run() {
    if (body) body();
    finished = true;
  }
};

// A target that records what reached it and answers OK (reads return `fill`).
struct recording_target : sc_core::sc_module {
  tlm_utils::simple_target_socket<recording_target> socket;
  struct seen {
    uint64_t addr;
    unsigned len;
    bool write;
    sc_core::sc_time at;  // kernel time + annotated delay on arrival
  };
  std::vector<seen> log;
  uint8_t fill = 0xab;
  uint32_t latency_ns = 0;

  explicit recording_target(sc_core::sc_module_name n) : sc_core::sc_module(n), socket("socket") {
    socket.register_b_transport(this, &recording_target::b_transport);
    socket.register_transport_dbg(this, &recording_target::transport_dbg);
  }
  void b_transport(tlm::tlm_generic_payload &p, sc_core::sc_time &delay) {
    log.push_back({p.get_address(), p.get_data_length(), p.is_write(),
                   sc_core::sc_time_stamp() + delay});
    if (p.is_read()) std::memset(p.get_data_ptr(), fill, p.get_data_length());
    delay += sc_core::sc_time(latency_ns, sc_core::SC_NS);
    p.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  unsigned transport_dbg(tlm::tlm_generic_payload &p) {
    log.push_back({p.get_address(), p.get_data_length(), p.is_write(), sc_core::SC_ZERO_TIME});
    if (p.is_read()) std::memset(p.get_data_ptr(), fill, p.get_data_length());
    return p.get_data_length();
  }
};

// User frames: whole 4 KiB pages of a test-owned buffer at chosen PAs.
struct buffer_frames : models::frame_backing {
  std::map<uint64_t, uint8_t *> pages;  // page PA -> bytes
  void map(uint64_t pa, uint8_t *bytes, size_t len) {
    for (size_t off = 0; off < len; off += 4096) pages[pa + off] = bytes + off;
  }
  template <typename F>
  bool each(uint64_t pa, size_t len, F f) {
    size_t done = 0;
    while (done < len) {
      const uint64_t page = (pa + done) & ~uint64_t{4095}, off = (pa + done) & 4095;
      const size_t n = std::min<size_t>(len - done, 4096 - off);
      auto it = pages.find(page);
      if (it == pages.end()) return false;
      f(it->second + off, done, n);
      done += n;
    }
    return true;
  }
  bool read(uint64_t pa, void *dst, size_t len) override {
    return each(pa, len, [&](uint8_t *p, size_t done, size_t n) {
      std::memcpy(static_cast<uint8_t *>(dst) + done, p, n);
    });
  }
  bool write(uint64_t pa, const void *src, size_t len) override {
    // Check first, so a failed write changes nothing.
    if (!each(pa, len, [](uint8_t *, size_t, size_t) {})) return false;
    return each(pa, len, [&](uint8_t *p, size_t done, size_t n) {
      std::memcpy(p, static_cast<const uint8_t *>(src) + done, n);
    });
  }
};

}  // namespace iommusim::testing
