// SPDX-License-Identifier: MIT
// The host CPU behind HostBus and the simulation/IRQ threads, in both timing
// modes: MMIO costs CPU cycles plus the bus and the target; coherent memory
// costs per 64-byte line; polls time out in simulated time; requests from
// several threads are served one after another on one core; interrupt
// handlers run on the IRQ thread; calls after shutdown return at once.
// A small top (memory, MMIO router, interrupt controller, host CPU, a
// register block) is built here, without IOMMUs.
#include <gtest/gtest.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "models/common/memory.h"
#include "models/common/router.h"
#include "sim/host_cpu.h"
#include "sim/irq_controller.h"
#include "sim/sim_thread.h"

using namespace iommusim;
using namespace iommusim::sim;
using models::timing_mode;

namespace {

// Registers: 0x00 scratch (read/write, 32 or 64 bit); 0x08 READY (bit 0 set
// once simulated time reaches the deadline); 0x10 ARM (write n: READY in n ns);
// 0x18 COUNT (each write adds 1). Every access costs kTargetCycles of 1 GHz.
constexpr uint32_t kTargetCycles = 10;
struct reg_block : public sc_core::sc_module {
  tlm_utils::simple_target_socket<reg_block> socket;
  explicit reg_block(sc_core::sc_module_name n, timing_mode mode)
      : sc_core::sc_module(n), socket("socket"), clk(1000, mode) {
    socket.register_b_transport(this, &reg_block::b_transport);
  }
  void b_transport(tlm::tlm_generic_payload &p, sc_core::sc_time &delay) {
    models::timing_ctx t(clk.mode(), delay);
    t.advance(kTargetCycles, clk);
    const uint64_t off = p.get_address();
    uint64_t v = 0;
    std::memcpy(&v, p.get_data_ptr(), std::min<unsigned>(8, p.get_data_length()));
    if (p.is_write()) {
      if (off == 0x00) scratch = v;
      if (off == 0x10) ready_at = t.now() + sc_core::sc_time(static_cast<double>(v), sc_core::SC_NS);
      if (off == 0x18) count++;
    } else {
      uint64_t r = 0;
      if (off == 0x00) r = scratch;
      if (off == 0x08) r = (armed() && t.now() >= ready_at) ? 1 : 0;
      if (off == 0x18) r = count;
      std::memcpy(p.get_data_ptr(), &r, p.get_data_length());
    }
    p.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  bool armed() const { return ready_at != sc_core::SC_ZERO_TIME; }
  models::clock_domain clk;
  uint64_t scratch = 0;
  uint64_t count = 0;
  sc_core::sc_time ready_at = sc_core::SC_ZERO_TIME;
};

// Nobody but the CPU (functionally) uses the memory here; its socket must be bound.
struct no_initiator : public sc_core::sc_module {
  tlm_utils::simple_initiator_socket<no_initiator> socket;
  explicit no_initiator(sc_core::sc_module_name n) : sc_core::sc_module(n), socket("socket") {}
};

constexpr uint64_t kRegs = 0x1000'0000;
constexpr uint64_t kMsi = 0x0800'0000;

struct top {
  models::phys_memory *mem = nullptr;
  models::router *bus = nullptr;
  irq_controller *irqs = nullptr;
  host_cpu *cpu = nullptr;
  reg_block *regs = nullptr;
};

top build(timing_mode mode, unsigned cores) {
  top t;
  const std::string err = sim_thread::get().start([&] {
    models::memory_config mc;
    t.mem = new models::phys_memory("memory", mc, mode, nullptr);
    (new no_initiator("dma"))->socket.bind(t.mem->socket);
    t.irqs = new irq_controller("irq", 16, kMsi);
    models::router_config rc;
    rc.clock_mhz = 1000;
    rc.hop_cycles = 1;
    rc.windows.push_back({kMsi, t.irqs->msi_size(), 0, "msi", true});
    rc.windows.push_back({kRegs, 0x1000, 1, "regs", true});
    t.bus = new models::router("mmio_bus", rc, mode);
    t.bus->initiator_socket.bind(t.irqs->msi);
    t.regs = new reg_block("regs", mode);
    t.bus->initiator_socket.bind(t.regs->socket);
    host_cpu_config hc;  // 2 GHz: 200 cycles = 100 ns per read, 50 ns per write
    hc.cores = cores;
    t.cpu = new host_cpu("host_cpu", hc, mode, *t.mem, *t.irqs, sim_thread::get());
    t.cpu->mmio.bind(t.bus->target_socket);
    if (mode == timing_mode::fast)
      tlm::tlm_global_quantum::instance().set(sc_core::sc_time(1, sc_core::SC_US));
  });
  EXPECT_EQ(err, "");
  t.irqs->start_thread();
  return t;
}

void teardown(top &t) {
  t.irqs->stop_thread();
  sim_thread::get().stop();
}

// Read: 200 CPU cycles at 2 GHz, a router hop at 1 GHz, 10 target cycles.
constexpr uint64_t kReadPs = 100'000 + 1'000 + 10'000;
constexpr uint64_t kWritePs = 50'000 + 1'000 + 10'000;

class HostBus : public ::testing::TestWithParam<timing_mode> {};

std::string mode_name(const ::testing::TestParamInfo<timing_mode> &i) {
  return i.param == timing_mode::cycle ? "cycle" : "fast";
}

}  // namespace

TEST_P(HostBus, MmioCostsCpuCyclesPlusTheBus) {
  top t = build(GetParam(), 1);
  iommufd::host_bus &bus = *t.cpu;
  const uint64_t t0 = bus.now_ps();
  bus.writeq(kRegs, 0x1122'3344'5566'7788ULL);
  const uint64_t t1 = bus.now_ps();
  EXPECT_EQ(t1 - t0, kWritePs);
  EXPECT_EQ(bus.readq(kRegs), 0x1122'3344'5566'7788ULL);
  const uint64_t t2 = bus.now_ps();
  EXPECT_EQ(t2 - t1, kReadPs);
  EXPECT_EQ(bus.readl(kRegs), 0x5566'7788u);
  bus.writel(kRegs, 0xdead'beefu);
  EXPECT_EQ(bus.readl(kRegs), 0xdead'beefu);
  EXPECT_EQ(bus.now_ps() - t2, 2 * kReadPs + kWritePs);
  // Nothing there: all-ones, counted, and the bus still costs its hop.
  EXPECT_EQ(bus.readl(0x2000'0000), 0xffff'ffffu);
  teardown(t);
  EXPECT_EQ(t.cpu->stats().get("mmio_errors"), 1u);
  EXPECT_EQ(t.cpu->stats().get("mmio_reads"), 4u);
  EXPECT_EQ(t.cpu->stats().get("mmio_writes"), 2u);
}

TEST_P(HostBus, CoherentMemoryCostsPerLine) {
  top t = build(GetParam(), 1);
  iommufd::host_bus &bus = *t.cpu;
  const uint64_t pa = bus.dma_alloc(8192, 4096);
  ASSERT_NE(pa, 0u);
  std::vector<uint8_t> out(100), in(100);
  for (size_t i = 0; i < out.size(); i++) out[i] = static_cast<uint8_t>(i * 7);
  const uint64_t t0 = bus.now_ps();
  bus.mem_write(pa + 0x30, out.data(), out.size());  // lines 0..2 of the page: 3 lines
  const uint64_t t1 = bus.now_ps();
  EXPECT_EQ(t1 - t0, 3 * 4 * 500u);  // 4 CPU cycles a line at 2 GHz
  bus.mem_read(pa + 0x30, in.data(), in.size());
  EXPECT_EQ(bus.now_ps() - t1, 3 * 4 * 500u);
  EXPECT_EQ(in, out);
  // What the CPU wrote is in simulated RAM (what an IOMMU would fetch).
  uint8_t direct[100];
  ASSERT_TRUE(t.mem->read(pa + 0x30, direct, sizeof(direct)));
  EXPECT_EQ(std::memcmp(direct, out.data(), 100), 0);
  EXPECT_EQ(bus.mem_read64(pa + 0x1000), 0u);  // dma_alloc memory is zeroed
  bus.dma_free(pa, 8192);
  teardown(t);
}

TEST_P(HostBus, PollTimesOutInSimulatedTime) {
  top t = build(GetParam(), 1);
  iommufd::host_bus &bus = *t.cpu;
  const uint64_t t0 = bus.now_ps();
  // READY never comes: the poll gives up once 2 us of simulated time passed.
  EXPECT_FALSE(bus.poll32(kRegs + 0x08, 1, 1, 100, 2000));
  const uint64_t spent = bus.now_ps() - t0;
  EXPECT_GE(spent, 2'000'000u);
  EXPECT_LE(spent, 2'000'000u + 100'000u + 2 * kReadPs);
  // READY 5 us after ARM: the poll succeeds at the first read after it.
  bus.writeq(kRegs + 0x10, 5000);
  const uint64_t armed = bus.now_ps();
  EXPECT_TRUE(bus.poll32(kRegs + 0x08, 1, 1, 100, 1'000'000));
  const uint64_t waited = bus.now_ps() - armed;
  EXPECT_GE(waited, 5'000'000u - kReadPs);
  EXPECT_LE(waited, 5'000'000u + 100'000u + 2 * kReadPs);
  // delay_ns is exact.
  const uint64_t t1 = bus.now_ps();
  bus.delay_ns(12345);
  EXPECT_EQ(bus.now_ps() - t1, 12'345'000u);
  teardown(t);
  EXPECT_EQ(t.cpu->stats().get("poll_timeouts"), 1u);
  EXPECT_EQ(t.cpu->stats().get("polls"), 2u);
}

TEST_P(HostBus, PollOnMemorySeesAWriteInSimulatedTime) {
  top t = build(GetParam(), 1);
  iommufd::host_bus &bus = *t.cpu;
  const uint64_t pa = bus.dma_alloc(4096, 4096);
  // Something in the simulation (as a device would) sets a completion flag
  // 3 us from now.
  std::atomic<uint64_t> written_at{0};
  std::atomic<bool> started{false};
  std::thread writer([&] {
    sim_thread::get().run_in_process([&] {
      started = true;
      sc_core::wait(3, sc_core::SC_US);
      const uint32_t one = 1;
      t.mem->write(pa, &one, 4);
      written_at = static_cast<uint64_t>(sc_core::sc_time_stamp() / sc_core::sc_time(1, sc_core::SC_PS));
    });
  });
  while (!started) std::this_thread::yield();
  EXPECT_TRUE(bus.poll_mem32(pa, 1, 1, 200, 1'000'000));
  const uint64_t seen = bus.now_ps();
  writer.join();
  EXPECT_GE(written_at.load(), 3'000'000u);
  EXPECT_GE(seen, written_at.load());
  // Another word of memory never changes: that poll times out.
  EXPECT_FALSE(bus.poll_mem32(pa + 8, 1, 1, 200, 5000));
  teardown(t);
}

TEST_P(HostBus, OneCoreServesThreadsOneAfterAnother) {
  top t = build(GetParam(), 1);
  iommufd::host_bus &bus = *t.cpu;
  const uint64_t t0 = bus.now_ps();
  constexpr int kThreads = 4, kWrites = 25;
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; i++)
    ts.emplace_back([&] {
      for (int j = 0; j < kWrites; j++) bus.writel(kRegs + 0x18, 1);
    });
  for (auto &th : ts) th.join();
  const uint64_t spent = bus.now_ps() - t0;
  EXPECT_EQ(bus.readq(kRegs + 0x18), uint64_t{kThreads * kWrites});
  // Serialised on one core: exactly the sum of the writes.
  EXPECT_EQ(spent, kThreads * kWrites * kWritePs);
  teardown(t);
}

TEST_P(HostBus, IrqHandlerRunsOnTheIrqThread) {
  top t = build(GetParam(), 1);
  iommufd::host_bus &bus = *t.cpu;
  std::mutex m;
  std::condition_variable cv;
  int runs = 0;
  std::thread::id handler_thread;
  uint64_t read_in_handler = 0;
  ASSERT_EQ(bus.request_irq(3, [&] {
              // A handler may use HostBus itself.
              const uint64_t v = bus.readq(kRegs);
              std::lock_guard<std::mutex> l(m);
              handler_thread = std::this_thread::get_id();
              read_in_handler = v;
              runs++;
              cv.notify_all();
            }),
            0);
  EXPECT_EQ(bus.request_irq(3, [] {}), -EBUSY);
  EXPECT_EQ(bus.request_irq(99, [] {}), -EINVAL);
  bus.writeq(kRegs, 42);
  // An MSI: a 32-bit write to the line's doorbell.
  EXPECT_EQ(bus.msi_doorbell(3), kMsi + 3 * 4096);
  bus.writel(bus.msi_doorbell(3), 0);
  {
    std::unique_lock<std::mutex> l(m);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return runs == 1; }));
  }
  EXPECT_NE(handler_thread, std::this_thread::get_id());
  EXPECT_FALSE(sim_thread::get().on_sim_thread());
  EXPECT_EQ(read_in_handler, 42u);
  // A wired line from a model (simulation thread): a rising edge fires once.
  ASSERT_TRUE(sim_thread::get().run_in_process([&] {
    t.irqs->set_level(3, true);
    t.irqs->set_level(3, true);  // still high: no new edge
    t.irqs->set_level(3, false);
  }));
  {
    std::unique_lock<std::mutex> l(m);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return runs == 2; }));
  }
  t.irqs->wait_quiet();
  bus.free_irq(3);
  EXPECT_EQ(bus.request_irq(3, [] {}), 0);
  teardown(t);
  EXPECT_EQ(runs, 2);
}

TEST_P(HostBus, CallsAfterShutdownReturnAtOnce) {
  top t = build(GetParam(), 1);
  iommufd::host_bus &bus = *t.cpu;
  bus.writeq(kRegs, 7);
  teardown(t);
  EXPECT_EQ(bus.readl(kRegs), 0xffff'ffffu);
  EXPECT_FALSE(bus.poll32(kRegs + 0x08, 1, 1, 10, 1000));
  bus.writel(kRegs, 1);  // dropped
  bus.delay_ns(1000);
  EXPECT_FALSE(sim_thread::get().running());
}

INSTANTIATE_TEST_SUITE_P(Mode, HostBus, ::testing::Values(timing_mode::cycle, timing_mode::fast), mode_name);
