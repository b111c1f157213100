// SPDX-License-Identifier: MIT
// router: window decode, relative/absolute forwarding, hop latency in both
// modes, address errors, overlap checks, debug transport, many initiators.
//
// Timing used below: router clock 500 MHz with hop_cycles 3 = 6 ns per
// transaction; memory at 1 GHz (read latency 100, write 50, 32 B/cycle).
#include <gtest/gtest.h>

#include "models/common/memory.h"
#include "models/common/router.h"
#include "tlm_test_helpers.h"

using namespace iommusim::models;
using iommusim::testing::ns;
using iommusim::testing::recording_target;
using iommusim::testing::script_initiator;
using sc_core::sc_start;
using sc_core::sc_time;
using sc_core::sc_time_stamp;
using sc_core::SC_ZERO_TIME;

namespace {

constexpr uint64_t kRam = 0x8000'0000ULL;

router_config bus_cfg() {
  router_config c;
  c.clock_mhz = 500;
  c.hop_cycles = 3;
  c.windows = {{0x1000, 0x1000, 0, "bar0", true},
               {0x10000, 0x1000, 1, "bar1", true},
               {kRam, 0x8000'0000ULL, 2, "ram", false}};
  return c;
}

memory_config mem_cfg() {
  memory_config m;
  m.read_latency = 100;
  m.write_latency = 50;
  return m;
}

struct bus_fixture {
  router bus;
  recording_target t0{"t0"}, t1{"t1"};
  phys_memory mem;
  script_initiator ini{"ini"};
  explicit bus_fixture(timing_mode mode)
      : bus("bus", bus_cfg(), mode), mem("mem", mem_cfg(), mode, nullptr) {
    ini.socket.bind(bus.target_socket);
    bus.initiator_socket.bind(t0.socket);
    bus.initiator_socket.bind(t1.socket);
    bus.initiator_socket.bind(mem.socket);
  }
};

void decode_test(timing_mode mode) {
  bus_fixture f(mode);
  f.ini.body = [&](script_initiator &s) {
    sc_time d = SC_ZERO_TIME;
    uint64_t v = 0x55;
    ASSERT_EQ(s.write(0x1008, &v, 8, d), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(sc_time_stamp() + d, ns(6));
    ASSERT_EQ(s.read(0x10ff8, &v, 8, d), tlm::TLM_OK_RESPONSE);  // last word of bar1
    EXPECT_EQ(v, 0xababababababababULL);
    EXPECT_EQ(sc_time_stamp() + d, ns(12));
    // Absolute window: memory sees the physical address.
    v = 0x1234;
    ASSERT_EQ(s.write(kRam + 0x40, &v, 8, d), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(sc_time_stamp() + d, ns(12 + 6 + 51));
    uint64_t r = 0;
    ASSERT_EQ(s.read(kRam + 0x40, &r, 8, d), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r, 0x1234u);
    EXPECT_EQ(sc_time_stamp() + d, ns(69 + 6 + 101));
    if (mode == timing_mode::fast) {
      EXPECT_EQ(sc_time_stamp(), SC_ZERO_TIME);
    } else {
      EXPECT_EQ(d, SC_ZERO_TIME);
    }
    // The initiator gets its own address back in the payload.
    tlm::tlm_generic_payload p;
    p.set_command(tlm::TLM_READ_COMMAND);
    p.set_address(0x1010);
    p.set_data_ptr(reinterpret_cast<uint8_t *>(&r));
    p.set_data_length(8);
    p.set_streaming_width(8);
    s.socket->b_transport(p, d);
    EXPECT_EQ(p.get_address(), 0x1010u);
  };
  sc_start();
  EXPECT_TRUE(f.ini.finished);
  ASSERT_EQ(f.t0.log.size(), 2u);
  EXPECT_EQ(f.t0.log[0].addr, 0x8u);  // relative to bar0
  EXPECT_TRUE(f.t0.log[0].write);
  EXPECT_EQ(f.t0.log[0].at, ns(6));   // arrives after the hop
  EXPECT_EQ(f.t0.log[1].addr, 0x10u);
  ASSERT_EQ(f.t1.log.size(), 1u);
  EXPECT_EQ(f.t1.log[0].addr, 0xff8u);
  EXPECT_EQ(f.mem.stats().get("writes"), 1u);
  EXPECT_EQ(f.bus.stats().get("transactions"), 5u);
  EXPECT_EQ(f.bus.stats().get("decode_errors"), 0u);
}

TEST(Router, DecodesWindowsCycleMode) { decode_test(timing_mode::cycle); }
TEST(Router, DecodesWindowsFastMode) { decode_test(timing_mode::fast); }

TEST(Router, UnmappedAndStraddlingAccessesAreAddressErrors) {
  bus_fixture f(timing_mode::cycle);
  f.ini.body = [&](script_initiator &s) {
    sc_time d = SC_ZERO_TIME;
    uint64_t v = 0;
    EXPECT_EQ(s.read(0x0, &v, 8, d), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(s.read(0x2000, &v, 8, d), tlm::TLM_ADDRESS_ERROR_RESPONSE);  // just past bar0
    EXPECT_EQ(s.read(0x1ffc, &v, 8, d), tlm::TLM_ADDRESS_ERROR_RESPONSE);  // leaves bar0
    EXPECT_EQ(s.read(~0ULL - 3, &v, 4, d), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(sc_time_stamp(), ns(4 * 6));  // decoding still takes the hop
  };
  sc_start();
  EXPECT_TRUE(f.ini.finished);
  EXPECT_TRUE(f.t0.log.empty());
  EXPECT_EQ(f.bus.stats().get("decode_errors"), 4u);
  EXPECT_EQ(f.bus.stats().get("transactions"), 0u);
}

TEST(Router, OverlappingWindowsAreAConfigError) {
  router_config c = bus_cfg();
  EXPECT_EQ(c.check(), "");
  c.windows.push_back({0x1800, 0x1000, 1, "late", true});
  const std::string why = c.check();
  EXPECT_NE(why.find("'late' [0x1800, 0x2800)"), std::string::npos) << why;
  EXPECT_NE(why.find("'bar0' [0x1000, 0x2000)"), std::string::npos) << why;
  try {
    router r("r", c, timing_mode::cycle);
    FAIL() << "overlap accepted";
  } catch (const std::invalid_argument &e) {
    EXPECT_NE(std::string(e.what()).find("r: window 'late'"), std::string::npos) << e.what();
  }
}

TEST(Router, AddWindowChecksEmptyWrapAndOverlap) {
  router r("r", bus_cfg(), timing_mode::cycle);
  EXPECT_THROW(r.add_window({0x5000, 0, 0, "empty", true}), std::invalid_argument);
  EXPECT_THROW(r.add_window({~0ULL - 0xfff, 0x2000, 0, "wrap", true}), std::invalid_argument);
  EXPECT_THROW(r.add_window({0x10800, 0x100, 0, "inside", true}), std::invalid_argument);
  EXPECT_THROW(r.add_window({0x0, 0x1001, 0, "touch", true}), std::invalid_argument);
  r.add_window({0x0, 0x1000, 0, "below", true});  // adjacent is fine
  r.add_window({~0ULL - 0xfff, 0x1000, 1, "top", true});  // ends exactly at 2^64
  EXPECT_EQ(r.windows().size(), 5u);
  ASSERT_NE(r.decode(0xfff), nullptr);
  EXPECT_EQ(r.decode(0xfff)->name, "below");
  EXPECT_EQ(r.decode(0x1000)->name, "bar0");
  EXPECT_EQ(r.decode(~0ULL)->name, "top");
  EXPECT_EQ(r.decode(0x3000), nullptr);
}

TEST(Router, DebugTransportIsForwardedUntimed) {
  bus_fixture f(timing_mode::cycle);
  f.ini.body = [&](script_initiator &s) {
    uint64_t v = 0xfeed, r = 0;
    EXPECT_EQ(s.dbg(tlm::TLM_WRITE_COMMAND, kRam + 0x100, &v, 8), 8u);
    EXPECT_EQ(s.dbg(tlm::TLM_READ_COMMAND, kRam + 0x100, &r, 8), 8u);
    EXPECT_EQ(r, 0xfeedu);
    EXPECT_EQ(s.dbg(tlm::TLM_READ_COMMAND, 0x10020, &r, 8), 8u);
    EXPECT_EQ(s.dbg(tlm::TLM_READ_COMMAND, 0x3000, &r, 8), 0u);  // unmapped
    EXPECT_EQ(sc_time_stamp(), SC_ZERO_TIME);
  };
  sc_start();
  ASSERT_EQ(f.t1.log.size(), 1u);
  EXPECT_EQ(f.t1.log[0].addr, 0x20u);
  EXPECT_EQ(f.bus.stats().get("transactions"), 0u);
}

// Three initiators read memory at time 0 through the router: they all pass
// the hop together, then the single memory port serialises their 1-cycle
// transfers: completions at 6 + 101, + 1, + 2 ns.
void many_initiators(timing_mode mode) {
  router_config rc;
  rc.clock_mhz = 500;
  rc.hop_cycles = 3;
  rc.windows = {{kRam, 0x8000'0000ULL, 0, "ram", false}};
  router bus("bus", rc, mode);
  phys_memory mem("mem", mem_cfg(), mode, nullptr);
  bus.initiator_socket.bind(mem.socket);
  std::vector<std::unique_ptr<script_initiator>> inis;
  std::vector<sc_time> done(3);
  for (int i = 0; i < 3; i++) {
    inis.push_back(std::make_unique<script_initiator>(("ini" + std::to_string(i)).c_str()));
    inis.back()->socket.bind(bus.target_socket);
    inis.back()->body = [&, i](script_initiator &s) {
      sc_time d = SC_ZERO_TIME;
      uint64_t v = 0;
      ASSERT_EQ(s.read(kRam + 64 * i, &v, 8, d), tlm::TLM_OK_RESPONSE);
      done[i] = sc_time_stamp() + d;
    };
  }
  sc_start();
  std::sort(done.begin(), done.end());
  EXPECT_EQ(done[0], ns(107));
  EXPECT_EQ(done[1], ns(108));
  EXPECT_EQ(done[2], ns(109));
  EXPECT_EQ(mem.stats().get("port_wait_cycles"), 3u);
  EXPECT_EQ(bus.stats().get("transactions"), 3u);
}

TEST(Router, ManyInitiatorsCycleMode) { many_initiators(timing_mode::cycle); }
TEST(Router, ManyInitiatorsFastMode) { many_initiators(timing_mode::fast); }

TEST(Router, WindowToUnboundTargetFailsElaboration) {
  router_config rc;
  rc.windows = {{0x0, 0x1000, 0, "a", true}, {0x1000, 0x1000, 1, "b", true}};
  router bus("bus", rc, timing_mode::cycle);
  recording_target t0("t0");
  script_initiator ini("ini");
  ini.socket.bind(bus.target_socket);
  bus.initiator_socket.bind(t0.socket);
  try {
    sc_start();
    FAIL() << "elaborated with a dangling window";
  } catch (const sc_core::sc_report &r) {
    EXPECT_NE(std::string(r.what()).find("'b' [0x1000, 0x2000) leads to target 1 but only 1"),
              std::string::npos)
        << r.what();
  }
}

}  // namespace
