// SPDX-License-Identifier: MIT
// dma_test: the register map, copies and fills that really move bytes into a
// user buffer, faults and their codes, PRI request/response/retry, and the
// same results and cycle counts in both timing modes.
//
// Bench: host -> MMIO router (hop 2) -> dma_test BAR0; dma_test -> test IOMMU
// (5 cycles, PA = IOVA + kUser) -> memory router (hop 1) -> memory (read 100,
// write 50, 32 B/cycle); every clock 1 GHz. A request of n bytes therefore
// completes after issue 1 + 5 + 1 + latency + ceil(n / 32) device cycles; a
// faulting one after 1 + 5. A transfer adds setup 2 at the start.
#include <gtest/gtest.h>

#include <numeric>

#include "device_test_iommu.h"
#include "models/common/memory.h"
#include "models/common/router.h"
#include "models/devices/dma_test.h"
#include "tlm_test_helpers.h"

using namespace iommusim::models;
using iommusim::testing::buffer_frames;
using iommusim::testing::ns;
using iommusim::testing::script_initiator;
using iommusim::testing::test_iommu;
using sc_core::sc_start;
using sc_core::sc_time;
using sc_core::sc_time_stamp;
using sc_core::SC_ZERO_TIME;

namespace {

constexpr uint64_t kUser = 0x1'0000'0000ULL;
constexpr uint64_t kBar = 0x1000'0000ULL;

struct bench {
  std::vector<uint8_t> user = std::vector<uint8_t>(64 * 1024);  // IOVA 0 .. 64 KiB
  buffer_frames frames;
  phys_memory mem;
  router mem_bus, mmio;
  test_iommu iommu;
  dma_test dev;
  script_initiator host{"host"};
  unsigned irqs = 0;

  static memory_config mem_cfg() {
    memory_config c;
    c.read_latency = 100;
    c.write_latency = 50;
    c.bytes_per_cycle = 32;
    return c;
  }
  static router_config mem_bus_cfg() {
    router_config c;
    c.hop_cycles = 1;
    c.windows = {{0x8000'0000ULL, ~0ULL - 0x8000'0000ULL + 1, 0, "mem", false}};
    return c;
  }
  static router_config mmio_cfg() {
    router_config c;
    c.hop_cycles = 2;
    c.windows = {{kBar, dma_test::kBarSize, 0, "dma0.bar0", true}};
    return c;
  }
  static dma_test_config dev_cfg() {
    dma_test_config c;
    c.stream_id = 0x10;
    c.setup_cycles = 2;
    c.issue_cycles = 1;
    return c;
  }

  explicit bench(timing_mode mode, const dma_test_config &dc = dev_cfg())
      : mem("mem", mem_cfg(), mode, (frames.map(kUser, user.data(), user.size()), &frames)),
        mem_bus("mem_bus", mem_bus_cfg(), mode),
        mmio("mmio", mmio_cfg(), mode),
        iommu("iommu", mode),
        dev("dma0", dc, mode) {
    // Fast mode with a real quantum, so the device runs ahead of the kernel.
    if (mode == timing_mode::fast)
      tlm::tlm_global_quantum::instance().set(sc_core::sc_time(1, sc_core::SC_US));
    iommu.offset = kUser;
    iommu.map(0, user.size());  // identity-offset mapping of the whole buffer
    host.socket.bind(mmio.target_socket);
    mmio.initiator_socket.bind(dev.regs);
    dev.dma.bind(iommu.upstream);
    dev.iommu_msg.bind(iommu.msg_in);
    iommu.endpoint.bind(dev.endpoint_msg);
    iommu.downstream.bind(mem_bus.target_socket);
    mem_bus.initiator_socket.bind(mem.socket);
    dev.on_done = [this] { irqs++; };
  }

  // Host register access through the MMIO bus; d is the host's local delay.
  static void wr(script_initiator &s, uint64_t off, uint64_t v, sc_time &d) {
    ASSERT_EQ(s.write(kBar + off, &v, 8, d), tlm::TLM_OK_RESPONSE) << off;
  }
  static uint64_t rd(script_initiator &s, uint64_t off, sc_time &d) {
    uint64_t v = 0;
    EXPECT_EQ(s.read(kBar + off, &v, 8, d), tlm::TLM_OK_RESPONSE) << off;
    return v;
  }
  // Program a transfer, start it, wait for DONE; returns the GO write's time.
  sc_time run(script_initiator &s, uint64_t src, uint64_t dst, uint64_t len, uint64_t ctrl,
              uint64_t pasid = 0, uint64_t pattern = 0) {
    sc_time d = SC_ZERO_TIME;
    wr(s, dma_test::SRC, src, d);
    wr(s, dma_test::DST, dst, d);
    wr(s, dma_test::LEN, len, d);
    wr(s, dma_test::CTRL, ctrl, d);
    wr(s, dma_test::PASID, pasid, d);
    wr(s, dma_test::PATTERN, pattern, d);
    wr(s, dma_test::GO, 1, d);
    const sc_time go = sc_time_stamp() + d;
    // Let simulated time catch up with the host before waiting (fast mode).
    sc_core::wait(d);
    if (!(dev.reg_value(dma_test::STATUS) & dma_test::ST_DONE)) sc_core::wait(dev.done);
    return go;
  }
};

uint64_t status(uint16_t code) {
  return dma_test::ST_DONE | (code ? dma_test::ST_ERROR | (uint64_t{code} << 16) : 0);
}

TEST(DmaTest, RegisterMapWidthsAndResetValues) {
  bench b(timing_mode::cycle);
  b.host.body = [&](script_initiator &s) {
    sc_time d = SC_ZERO_TIME;
    EXPECT_EQ(bench::rd(s, dma_test::ID, d), 0x1a3ad0a100000001ULL);
    uint32_t lo = 0, hi = 0;
    ASSERT_EQ(s.read(kBar + 0, &lo, 4, d), tlm::TLM_OK_RESPONSE);
    ASSERT_EQ(s.read(kBar + 4, &hi, 4, d), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(lo, 0x00000001u);
    EXPECT_EQ(hi, 0x1a3ad0a1u);
    bench::wr(s, dma_test::ID, 0, d);  // read-only
    EXPECT_EQ(bench::rd(s, dma_test::ID, d), dma_test::kId);
    for (uint64_t off : {dma_test::SRC, dma_test::DST, dma_test::LEN, dma_test::CTRL,
                         dma_test::PASID, dma_test::PATTERN, dma_test::STATUS,
                         dma_test::FAULT_ADDR, dma_test::BYTES_DONE, dma_test::CYCLES})
      EXPECT_EQ(bench::rd(s, off, d), 0u) << off;
    // 32-bit halves of a 64-bit register.
    const uint32_t h1 = 0xdeadbeef, h0 = 0x12345678;
    ASSERT_EQ(s.write(kBar + dma_test::SRC + 4, &h1, 4, d), tlm::TLM_OK_RESPONSE);
    ASSERT_EQ(s.write(kBar + dma_test::SRC, &h0, 4, d), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(bench::rd(s, dma_test::SRC, d), 0xdeadbeef12345678ULL);
    bench::wr(s, dma_test::PATTERN, 0x55, d);
    EXPECT_EQ(bench::rd(s, dma_test::PATTERN, d), 0x55u);
    bench::wr(s, dma_test::STATUS, 7, d);  // read-only
    EXPECT_EQ(bench::rd(s, dma_test::STATUS, d), 0u);
    EXPECT_EQ(bench::rd(s, dma_test::GO, d), 0u);   // write-only
    EXPECT_EQ(bench::rd(s, 0xff8, d), 0u);          // hole: reads zero
    // Misaligned, odd-sized and out-of-BAR accesses fail.
    uint64_t v = 0;
    EXPECT_EQ(s.read(kBar + 4, &v, 8, d), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(s.read(kBar + 8, &v, 2, d), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(s.read(kBar + 0x1000, &v, 8, d), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(sc_time_stamp(), ns(2 * 27));  // 27 register accesses, 2 ns each on the bus
  };
  sc_start();
  EXPECT_TRUE(b.host.finished);
  EXPECT_EQ(b.irqs, 0u);
}

void copy_test(timing_mode mode) {
  bench b(mode);
  for (size_t i = 0; i < 1024; i++) b.user[0x1000 + i] = static_cast<uint8_t>(i * 7 + 3);
  sc_time go, done_at;
  b.host.body = [&](script_initiator &s) {
    go = b.run(s, 0x1000, 0x8000, 1024, 6u << dma_test::CTRL_BURST_SHIFT);
    done_at = sc_time_stamp();
  };
  sc_start();
  ASSERT_TRUE(b.host.finished);
  // The bytes moved from one part of the program's buffer to another.
  EXPECT_TRUE(std::equal(b.user.begin() + 0x1000, b.user.begin() + 0x1400, b.user.begin() + 0x8000));
  EXPECT_EQ(b.user[0x8400], 0);
  // 16 bursts of 64 B (T = 2): read 1+5+1+100+2 = 109, write 1+5+1+50+2 = 59.
  const uint64_t cycles = 2 + 16 * (109 + 59);
  EXPECT_EQ(b.dev.reg_value(dma_test::CYCLES), cycles);
  EXPECT_EQ(b.dev.reg_value(dma_test::STATUS), status(0));
  EXPECT_EQ(b.dev.reg_value(dma_test::BYTES_DONE), 1024u);
  EXPECT_EQ(b.dev.reg_value(dma_test::FAULT_ADDR), 0u);
  EXPECT_EQ(go, ns(7 * 2));  // the 7th register write, 2 ns each
  EXPECT_EQ(done_at, go + ns(static_cast<double>(cycles)));
  EXPECT_EQ(b.irqs, 1u);
  EXPECT_EQ(b.mem.stats().get("reads"), 16u);
  EXPECT_EQ(b.mem.stats().get("writes"), 16u);
  EXPECT_EQ(b.dev.stats().get("read_bytes"), 1024u);
  EXPECT_EQ(b.dev.stats().get("write_bytes"), 1024u);
  ASSERT_EQ(b.iommu.log.size(), 32u);
  for (size_t i = 0; i < b.iommu.log.size(); i++) {
    const auto &e = b.iommu.log[i];
    EXPECT_EQ(e.stream_id, 0x10u);
    EXPECT_FALSE(e.ssid_valid);
    EXPECT_EQ(e.at, at_kind::untranslated);
    EXPECT_EQ(e.len, 64u);
    EXPECT_EQ(e.addr, (i % 2 ? 0x8000u : 0x1000u) + 64 * (i / 2));
  }
}

TEST(DmaTest, CopyMovesBytesCycleMode) { copy_test(timing_mode::cycle); }
TEST(DmaTest, CopyMovesBytesFastMode) { copy_test(timing_mode::fast); }

void fill_test(timing_mode mode) {
  bench b(mode);
  b.iommu.pages.clear();
  b.iommu.map(0x2000, 0x2000, {true, true}, true, 0x42);  // PASID 0x42 only
  b.host.body = [&](script_initiator &s) {
    // BURST field 0: the default 64 B. DST is 16 bytes below a page boundary.
    b.run(s, 0, 0x2ff0, 100, dma_test::CTRL_FILL | dma_test::CTRL_PASID | dma_test::CTRL_PRIV,
          0x42, 0x0102030405060708ULL);
  };
  sc_start();
  ASSERT_TRUE(b.host.finished);
  for (size_t i = 0; i < 100; i++)
    ASSERT_EQ(b.user[0x2ff0 + i], static_cast<uint8_t>(8 - (i % 8))) << i;
  EXPECT_EQ(b.user[0x2ff0 + 100], 0);
  EXPECT_EQ(b.user[0x2fef], 0);
  // Cut at the 4 KiB boundary: 16, 64, 20 bytes; writes only.
  ASSERT_EQ(b.iommu.log.size(), 3u);
  const uint64_t addrs[3] = {0x2ff0, 0x3000, 0x3040};
  const unsigned lens[3] = {16, 64, 20};
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(b.iommu.log[i].addr, addrs[i]);
    EXPECT_EQ(b.iommu.log[i].len, lens[i]);
    EXPECT_TRUE(b.iommu.log[i].write);
    EXPECT_TRUE(b.iommu.log[i].ssid_valid);
    EXPECT_EQ(b.iommu.log[i].ssid, 0x42u);
    EXPECT_TRUE(b.iommu.log[i].privileged);
  }
  EXPECT_EQ(b.dev.reg_value(dma_test::CYCLES), 2u + 58 + 59 + 58);
  EXPECT_EQ(b.dev.reg_value(dma_test::STATUS), status(0));
  EXPECT_EQ(b.mem.stats().get("reads"), 0u);
}

TEST(DmaTest, FillWithPatternPasidPrivCycleMode) { fill_test(timing_mode::cycle); }
TEST(DmaTest, FillWithPatternPasidPrivFastMode) { fill_test(timing_mode::fast); }

void fault_test(timing_mode mode, bool read_only) {
  bench b(mode);
  b.iommu.pages.clear();
  b.iommu.map(0x0, 0x2000);
  b.iommu.map(0x4000, 0x1000);
  if (read_only) b.iommu.map(0x5000, 0x1000, {true, false});
  std::iota(b.user.begin(), b.user.begin() + 0x2000, 1);
  b.host.body = [&](script_initiator &s) {
    b.run(s, 0x0, 0x4000, 0x2000, 12u << dma_test::CTRL_BURST_SHIFT);  // 4 KiB bursts
  };
  sc_start();
  ASSERT_TRUE(b.host.finished);
  const uint16_t code = read_only ? dma_test::ERR_PERMISSION : dma_test::ERR_TRANSLATION;
  EXPECT_EQ(b.dev.reg_value(dma_test::STATUS), status(code));
  EXPECT_EQ(b.dev.reg_value(dma_test::FAULT_ADDR), 0x5000u);
  EXPECT_EQ(b.dev.reg_value(dma_test::BYTES_DONE), 0x1000u);
  EXPECT_TRUE(std::equal(b.user.begin(), b.user.begin() + 0x1000, b.user.begin() + 0x4000));
  EXPECT_TRUE(std::all_of(b.user.begin() + 0x5000, b.user.begin() + 0x6000,
                          [](uint8_t x) { return x == 0; }));
  // read 4 KiB (T = 128): 235; write: 185; read: 235; faulting write: 6.
  EXPECT_EQ(b.dev.reg_value(dma_test::CYCLES), 2u + 235 + 185 + 235 + 6);
  EXPECT_EQ(b.dev.stats().get("faults"), 1u);
  EXPECT_EQ(b.dev.stats().get("errors"), 1u);
  EXPECT_TRUE(b.iommu.page_requests.empty());  // PRI not enabled
  EXPECT_EQ(b.irqs, 1u);
}

TEST(DmaTest, TranslationFaultIsCode1CycleMode) { fault_test(timing_mode::cycle, false); }
TEST(DmaTest, TranslationFaultIsCode1FastMode) { fault_test(timing_mode::fast, false); }
TEST(DmaTest, PermissionFaultIsCode2) { fault_test(timing_mode::cycle, true); }

TEST(DmaTest, BadLengthIsCode4AndGoWhileBusyIsIgnored) {
  bench b(timing_mode::cycle);
  std::vector<uint64_t> st;
  b.host.body = [&](script_initiator &s) {
    b.run(s, 0, 0x1000, 0, 0);
    st.push_back(b.dev.reg_value(dma_test::STATUS));
    st.push_back(b.dev.reg_value(dma_test::CYCLES));
    b.run(s, 0, 0x1000, dma_test::kMaxLen + 1, 0);
    st.push_back(b.dev.reg_value(dma_test::STATUS));
    // A valid transfer, then GO again at once while it is busy.
    sc_time d = SC_ZERO_TIME;
    bench::wr(s, dma_test::LEN, 64, d);
    bench::wr(s, dma_test::GO, 1, d);
    EXPECT_EQ(bench::rd(s, dma_test::STATUS, d), dma_test::ST_BUSY);
    bench::wr(s, dma_test::GO, 1, d);
    sc_core::wait(b.dev.done);
    st.push_back(b.dev.reg_value(dma_test::STATUS));
  };
  sc_start();
  ASSERT_TRUE(b.host.finished);
  ASSERT_EQ(st.size(), 4u);
  EXPECT_EQ(st[0], status(dma_test::ERR_LENGTH));
  EXPECT_EQ(st[1], 0u);
  EXPECT_EQ(st[2], status(dma_test::ERR_LENGTH));
  EXPECT_EQ(st[3], status(0));
  EXPECT_EQ(b.dev.stats().get("go_while_busy"), 1u);
  EXPECT_EQ(b.dev.stats().get("transfers"), 3u);
  EXPECT_EQ(b.irqs, 3u);
  EXPECT_EQ(b.iommu.log.size(), 2u);  // only the valid transfer's read and write
}

// DST unmapped; PRI on. The first write to each DST page faults, raises a page
// request, and is retried when the stand-in answers (20 cycles later).
void pri_test(timing_mode mode) {
  bench b(mode);
  b.iommu.pages.clear();
  b.iommu.map(0x0, 0x1000);
  for (size_t i = 0; i < 256; i++) b.user[i] = static_cast<uint8_t>(0xa0 + i);
  std::vector<uint64_t> cyc;
  b.host.body = [&](script_initiator &s) {
    b.run(s, 0x0, 0x9000, 256, dma_test::CTRL_PRI | (7u << dma_test::CTRL_BURST_SHIFT));
    cyc.push_back(b.dev.reg_value(dma_test::CYCLES));
    // Two more pages: 0xa800 .. 0xb7ff needs pages 0xa000 and 0xb000.
    b.run(s, 0x0, 0xa800, 0x1000, dma_test::CTRL_PRI | (12u << dma_test::CTRL_BURST_SHIFT));
    cyc.push_back(b.dev.reg_value(dma_test::CYCLES));
  };
  sc_start();
  ASSERT_TRUE(b.host.finished);
  EXPECT_EQ(b.dev.reg_value(dma_test::STATUS), status(0));
  EXPECT_TRUE(std::equal(b.user.begin(), b.user.begin() + 256, b.user.begin() + 0x9000));
  EXPECT_TRUE(std::equal(b.user.begin(), b.user.begin() + 0x1000, b.user.begin() + 0xa800));
  ASSERT_EQ(b.iommu.page_requests.size(), 3u);
  const uint64_t pages[3] = {0x9000, 0xa000, 0xb000};
  for (uint16_t i = 0; i < 3; i++) {
    const page_request &r = b.iommu.page_requests[i].req;
    EXPECT_EQ(r.addr, pages[i]);
    EXPECT_EQ(r.grpid, i);  // a new group each time
    EXPECT_TRUE(r.last);
    EXPECT_TRUE(r.write);
    EXPECT_FALSE(r.read);
    EXPECT_EQ(r.stream_id, 0x10u);
  }
  // 128 B bursts (T = 4): read 111; faulting write 6 + response 20 + retry
  // 61; read 111; write 61 (the page is mapped now).
  ASSERT_EQ(cyc.size(), 2u);
  EXPECT_EQ(cyc[0], 2u + 111 + (6 + 20 + 61) + 111 + 61);
  // 4 KiB from 0xa800 in bursts cut at DST's 4 KiB boundary: 2 KiB twice
  // (T = 64): read 171, write fault 26 + retry 121, for each half.
  EXPECT_EQ(cyc[1], 2u + 2 * (171 + 26 + 121));
  EXPECT_EQ(b.dev.stats().get("page_requests"), 3u);
  EXPECT_EQ(b.dev.stats().get("page_responses"), 3u);
  EXPECT_EQ(b.dev.stats().get("faults"), 3u);
}

TEST(DmaTest, PriRequestResponseRetryCycleMode) { pri_test(timing_mode::cycle); }
TEST(DmaTest, PriRequestResponseRetryFastMode) { pri_test(timing_mode::fast); }

TEST(DmaTest, PriInvalidResponseIsCode3) {
  bench b(timing_mode::cycle);
  b.iommu.pages.clear();
  b.iommu.map(0x0, 0x1000);
  b.iommu.pri_code = prg_response_code::invalid_request;
  b.host.body = [&](script_initiator &s) { b.run(s, 0x0, 0x9040, 64, dma_test::CTRL_PRI); };
  sc_start();
  EXPECT_EQ(b.dev.reg_value(dma_test::STATUS), status(dma_test::ERR_PRI));
  EXPECT_EQ(b.dev.reg_value(dma_test::FAULT_ADDR), 0x9040u);
  EXPECT_EQ(b.dev.reg_value(dma_test::BYTES_DONE), 0u);
  ASSERT_EQ(b.iommu.page_requests.size(), 1u);
  EXPECT_EQ(b.iommu.page_requests[0].req.addr, 0x9000u);  // page aligned
  EXPECT_EQ(b.dev.reg_value(dma_test::CYCLES), 2u + 109 + 6 + 20);
}

// Response Failure stops the function's PRI (PCIe 6.0 §10.4.2.1): the next
// fault raises no page request and ends as a plain translation fault.
TEST(DmaTest, PriResponseFailureStopsPri) {
  bench b(timing_mode::cycle);
  b.iommu.pages.clear();
  b.iommu.map(0x0, 0x1000);
  b.iommu.pri_code = prg_response_code::response_failure;
  std::vector<uint64_t> st;
  b.host.body = [&](script_initiator &s) {
    b.run(s, 0x0, 0x9000, 64, dma_test::CTRL_PRI);
    st.push_back(b.dev.reg_value(dma_test::STATUS));
    b.run(s, 0x0, 0xa000, 64, dma_test::CTRL_PRI);
    st.push_back(b.dev.reg_value(dma_test::STATUS));
  };
  sc_start();
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0], status(dma_test::ERR_PRI));
  EXPECT_EQ(st[1], status(dma_test::ERR_TRANSLATION));
  EXPECT_EQ(b.iommu.page_requests.size(), 1u);
}

TEST(DmaTest, PriTimeoutIsCode3) {
  auto dc = bench::dev_cfg();
  dc.pri_timeout_cycles = 300;
  bench b(timing_mode::cycle, dc);
  b.iommu.pages.clear();
  b.iommu.map(0x0, 0x1000);
  b.iommu.pri_respond = false;
  b.host.body = [&](script_initiator &s) { b.run(s, 0x0, 0x9000, 64, dma_test::CTRL_PRI); };
  sc_start();
  EXPECT_EQ(b.dev.reg_value(dma_test::STATUS), status(dma_test::ERR_PRI));
  EXPECT_EQ(b.dev.reg_value(dma_test::CYCLES), 2u + 109 + 6 + 300);
}

TEST(DmaTest, PriRetriesAreBounded) {
  auto dc = bench::dev_cfg();
  dc.pri_max_retries = 2;
  bench b(timing_mode::cycle, dc);
  b.iommu.pages.clear();
  b.iommu.map(0x0, 0x1000);
  b.iommu.pri_maps = false;  // answers success but never maps: the device must give up
  b.host.body = [&](script_initiator &s) { b.run(s, 0x0, 0x9000, 64, dma_test::CTRL_PRI); };
  sc_start();
  EXPECT_EQ(b.dev.reg_value(dma_test::STATUS), status(dma_test::ERR_TRANSLATION));
  EXPECT_EQ(b.iommu.page_requests.size(), 2u);
  EXPECT_EQ(b.dev.reg_value(dma_test::CYCLES), 2u + 109 + 3 * 6 + 2 * 20);
}

}  // namespace
