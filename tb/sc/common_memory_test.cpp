// SPDX-License-Identifier: MIT
// phys_memory: sparse RAM, user frames, timing in both modes, compare-and-swap,
// debug transport and the allocator; latency histograms and the registry.
//
// Timing used below (memory clock 1 GHz, so 1 cycle = 1 ns): an access that
// gets a port at once completes after T + latency cycles, T = ceil(len / 32);
// a compare-and-swap after 2 T + read_latency + write_latency.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "models/common/iommu_extension.h"
#include "models/common/memory.h"
#include "models/common/stats.h"
#include "tlm_test_helpers.h"

using namespace iommusim::models;
using iommusim::testing::buffer_frames;
using iommusim::testing::ns;
using iommusim::testing::script_initiator;
using sc_core::sc_start;
using sc_core::sc_time;
using sc_core::sc_time_stamp;
using sc_core::SC_ZERO_TIME;

namespace {

constexpr uint64_t kRam = 0x8000'0000ULL;
constexpr uint64_t kUser = 0x1'0000'0000ULL;

memory_config test_cfg(unsigned ports = 1) {
  memory_config c;
  c.clock_mhz = 1000;
  c.read_latency = 100;
  c.write_latency = 50;
  c.bytes_per_cycle = 32;
  c.ports = ports;
  return c;
}

TEST(MemoryConfig, CheckNamesTheProblem) {
  EXPECT_EQ(test_cfg().check(), "");
  auto c = test_cfg();
  c.ram_base = 0x8000'0800;
  EXPECT_NE(c.check().find("multiples of 4 KiB"), std::string::npos);
  c = test_cfg();
  c.ram_size = 0;
  EXPECT_NE(c.check().find("ram_size"), std::string::npos);
  c = test_cfg();
  c.user_base = 0x9000'0000;  // inside RAM
  EXPECT_NE(c.check().find("user_base"), std::string::npos);
  c = test_cfg();
  c.bytes_per_cycle = 0;
  EXPECT_NE(c.check().find("bytes_per_cycle"), std::string::npos);
  c = test_cfg();
  c.ports = 0;
  EXPECT_NE(c.check().find("ports"), std::string::npos);
  c = test_cfg();
  c.clock_mhz = 0;
  EXPECT_NE(c.check().find("clock_mhz"), std::string::npos);
}

TEST(MemoryConfig, ConstructorRejectsBadConfig) {
  auto c = test_cfg();
  c.ports = 0;
  try {
    phys_memory mem("mem", c, timing_mode::cycle, nullptr);
    FAIL() << "constructed with 0 ports";
  } catch (const std::invalid_argument &e) {
    EXPECT_NE(std::string(e.what()).find("mem: memory ports"), std::string::npos) << e.what();
  }
}

TEST(Memory, SparseRamReadsZeroUntilWritten) {
  phys_memory mem("mem", test_cfg(), timing_mode::cycle, nullptr);
  std::vector<uint8_t> buf(64, 0xff);
  ASSERT_TRUE(mem.read(kRam + 0x1234'5000, buf.data(), buf.size()));
  EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](uint8_t b) { return b == 0; }));
  EXPECT_EQ(mem.resident_pages(), 0u);  // reading materialises nothing

  // A write across a page boundary lands in two pages.
  std::vector<uint8_t> src(100);
  for (size_t i = 0; i < src.size(); i++) src[i] = static_cast<uint8_t>(i + 1);
  ASSERT_TRUE(mem.write(kRam + 0x2000 - 50, src.data(), src.size()));
  EXPECT_EQ(mem.resident_pages(), 2u);
  std::vector<uint8_t> back(100);
  ASSERT_TRUE(mem.read(kRam + 0x2000 - 50, back.data(), back.size()));
  EXPECT_EQ(back, src);
  uint8_t around[2];
  ASSERT_TRUE(mem.read(kRam + 0x2000 - 51, around, 1));
  ASSERT_TRUE(mem.read(kRam + 0x2000 + 50, around + 1, 1));
  EXPECT_EQ(around[0], 0);
  EXPECT_EQ(around[1], 0);

  // Outside RAM, and user frames without a backing, are unbacked.
  EXPECT_FALSE(mem.read(kRam - 8, buf.data(), 8));
  EXPECT_FALSE(mem.read(kRam + 0x8000'0000ULL - 4, buf.data(), 8));  // straddles the end
  EXPECT_FALSE(mem.write(kUser, src.data(), 8));
  EXPECT_FALSE(mem.read(0x10, buf.data(), 8));
}

TEST(Memory, CycleModeLatencyTransferAndStats) {
  phys_memory mem("mem", test_cfg(), timing_mode::cycle, nullptr);
  script_initiator ini("ini");
  ini.socket.bind(mem.socket);
  ini.body = [&](script_initiator &s) {
    std::vector<uint8_t> w(64);
    for (size_t i = 0; i < w.size(); i++) w[i] = static_cast<uint8_t>(0xc0 + i);
    sc_time d = SC_ZERO_TIME;
    // 8 bytes: T = 1, write latency 50.
    ASSERT_EQ(s.write(kRam + 0x100, w.data(), 8, d), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(sc_time_stamp(), ns(51));
    EXPECT_EQ(d, SC_ZERO_TIME);  // cycle mode: time passed by wait(), nothing annotated
    ASSERT_EQ(s.write(kRam + 0x108, w.data() + 8, 56, d), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(sc_time_stamp(), ns(51 + 2 + 50));
    // 64 bytes read: T = 2, read latency 100.
    std::vector<uint8_t> r(64);
    ASSERT_EQ(s.read(kRam + 0x100, r.data(), 64, d), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(sc_time_stamp(), ns(103 + 102));
    EXPECT_EQ(r, w);
    // An incoming annotated delay is consumed first.
    d = ns(10);
    ASSERT_EQ(s.read(kRam + 0x100, r.data(), 33, d), tlm::TLM_OK_RESPONSE);  // T = 2
    EXPECT_EQ(sc_time_stamp(), ns(205 + 10 + 102));
    EXPECT_EQ(d, SC_ZERO_TIME);
  };
  sc_start();
  EXPECT_TRUE(ini.finished);
  auto &st = mem.stats();
  EXPECT_EQ(st.get("reads"), 2u);
  EXPECT_EQ(st.get("writes"), 2u);
  EXPECT_EQ(st.get("read_bytes"), 97u);
  EXPECT_EQ(st.get("write_bytes"), 64u);
  EXPECT_EQ(st.get("port_wait_cycles"), 0u);
  const auto &h = mem.stats().histogram("latency_cycles");
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.min(), 51u);
  EXPECT_EQ(h.max(), 102u);
  EXPECT_EQ(st.name(), "mem");
}

// Two initiators start a 256-byte read (T = 8) at time 0. With one port the
// second waits for the first's transfer only (latency is pipelined).
void contention(timing_mode mode, unsigned ports, uint64_t expect_second, uint64_t expect_wait) {
  phys_memory mem("mem", test_cfg(ports), mode, nullptr);
  script_initiator a("a"), b("b");
  a.socket.bind(mem.socket);
  b.socket.bind(mem.socket);
  sc_time done_a, done_b;
  auto body = [&](sc_time *out) {
    return [&, out](script_initiator &s) {
      std::vector<uint8_t> r(256);
      sc_time d = SC_ZERO_TIME;
      ASSERT_EQ(s.read(kRam, r.data(), 256, d), tlm::TLM_OK_RESPONSE);
      *out = sc_time_stamp() + d;
    };
  };
  a.body = body(&done_a);
  b.body = body(&done_b);
  sc_start();
  EXPECT_EQ(std::min(done_a, done_b), ns(108));
  EXPECT_EQ(std::max(done_a, done_b), ns(static_cast<double>(expect_second)));
  EXPECT_EQ(mem.stats().get("port_wait_cycles"), expect_wait);
}

TEST(Memory, CycleModeOnePortSerialisesTransfers) { contention(timing_mode::cycle, 1, 116, 8); }
TEST(Memory, CycleModeTwoPortsInParallel) { contention(timing_mode::cycle, 2, 108, 0); }
TEST(Memory, FastModeOnePortSameNumbers) { contention(timing_mode::fast, 1, 116, 8); }
TEST(Memory, FastModeTwoPortsSameNumbers) { contention(timing_mode::fast, 2, 108, 0); }

TEST(Memory, FastModeAnnotatesInsteadOfWaiting) {
  phys_memory mem("mem", test_cfg(), timing_mode::fast, nullptr);
  script_initiator ini("ini");
  ini.socket.bind(mem.socket);
  ini.body = [&](script_initiator &s) {
    uint64_t v = 0x1122334455667788ULL, r = 0;
    sc_time d = SC_ZERO_TIME;
    ASSERT_EQ(s.write(kRam + 8, &v, 8, d), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(d, ns(51));
    EXPECT_EQ(sc_time_stamp(), SC_ZERO_TIME);
    ASSERT_EQ(s.read(kRam + 8, &r, 8, d), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(d, ns(51 + 101));
    EXPECT_EQ(r, v);
    EXPECT_EQ(sc_time_stamp(), SC_ZERO_TIME);
  };
  sc_start();
  EXPECT_TRUE(ini.finished);
  EXPECT_EQ(mem.stats().get("reads"), 1u);
  EXPECT_EQ(mem.stats().get("writes"), 1u);
}

void cas_test(timing_mode mode) {
  phys_memory mem("mem", test_cfg(), mode, nullptr);
  script_initiator ini("ini");
  ini.socket.bind(mem.socket);
  const uint64_t pa = kRam + 0x40;
  uint64_t init = 5;
  ASSERT_TRUE(mem.write(pa, &init, 8));
  ini.body = [&](script_initiator &s) {
    sc_time d = SC_ZERO_TIME;
    atomic_extension ax;
    ax.expected = 5;
    uint64_t desired = 9;
    ASSERT_EQ(s.access(tlm::TLM_WRITE_COMMAND, pa, &desired, 8, d, &ax), tlm::TLM_OK_RESPONSE);
    EXPECT_TRUE(ax.success);
    EXPECT_EQ(ax.observed, 5u);
    EXPECT_EQ(sc_time_stamp() + d, ns(1 + 100 + 1 + 50));
    // The memory now holds 9: a swap expecting 5 fails and changes nothing.
    atomic_extension ax2;
    ax2.expected = 5;
    desired = 7;
    ASSERT_EQ(s.access(tlm::TLM_WRITE_COMMAND, pa, &desired, 8, d, &ax2), tlm::TLM_OK_RESPONSE);
    EXPECT_FALSE(ax2.success);
    EXPECT_EQ(ax2.observed, 9u);
    EXPECT_EQ(sc_time_stamp() + d, ns(2 * 152));
    // Atomics are 8-byte aligned writes.
    atomic_extension bad;
    uint64_t x = 0;
    EXPECT_EQ(s.access(tlm::TLM_READ_COMMAND, pa, &x, 8, d, &bad), tlm::TLM_COMMAND_ERROR_RESPONSE);
    EXPECT_EQ(s.access(tlm::TLM_WRITE_COMMAND, pa, &x, 4, d, &bad),
              tlm::TLM_COMMAND_ERROR_RESPONSE);
    EXPECT_EQ(s.access(tlm::TLM_WRITE_COMMAND, pa + 4, &x, 8, d, &bad),
              tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(sc_time_stamp() + d, ns(2 * 152));  // errors take no time
  };
  sc_start();
  EXPECT_TRUE(ini.finished);
  uint64_t now = 0;
  ASSERT_TRUE(mem.read(pa, &now, 8));
  EXPECT_EQ(now, 9u);
  EXPECT_EQ(mem.stats().get("atomics"), 2u);
  EXPECT_EQ(mem.stats().get("atomic_failures"), 1u);
  EXPECT_EQ(mem.stats().get("writes"), 0u);  // atomics are counted apart
}

TEST(Memory, CompareAndSwapCycleMode) { cas_test(timing_mode::cycle); }
TEST(Memory, CompareAndSwapFastMode) { cas_test(timing_mode::fast); }

TEST(Memory, CompareAndSwapOnUserFrame) {
  std::vector<uint8_t> page(4096, 0);
  buffer_frames frames;
  frames.map(kUser, page.data(), page.size());
  phys_memory mem("mem", test_cfg(), timing_mode::cycle, &frames);
  script_initiator ini("ini");
  ini.socket.bind(mem.socket);
  ini.body = [&](script_initiator &s) {
    sc_time d = SC_ZERO_TIME;
    atomic_extension ax;
    ax.expected = 0;
    uint64_t desired = 0xdead;
    ASSERT_EQ(s.access(tlm::TLM_WRITE_COMMAND, kUser + 16, &desired, 8, d, &ax),
              tlm::TLM_OK_RESPONSE);
    EXPECT_TRUE(ax.success);
  };
  sc_start();
  uint64_t v;
  std::memcpy(&v, page.data() + 16, 8);
  EXPECT_EQ(v, 0xdeadu);
}

TEST(Memory, AddressErrorsTakeNoTimeAndAreCounted) {
  std::vector<uint8_t> page(4096, 0);
  buffer_frames frames;
  frames.map(kUser + 0x3000, page.data(), page.size());
  phys_memory mem("mem", test_cfg(), timing_mode::cycle, &frames);
  script_initiator ini("ini");
  ini.socket.bind(mem.socket);
  ini.body = [&](script_initiator &s) {
    uint8_t buf[16] = {};
    sc_time d = SC_ZERO_TIME;
    EXPECT_EQ(s.read(0x1000, buf, 8, d), tlm::TLM_ADDRESS_ERROR_RESPONSE);        // MMIO hole
    EXPECT_EQ(s.read(kRam - 4, buf, 8, d), tlm::TLM_ADDRESS_ERROR_RESPONSE);      // into RAM
    EXPECT_EQ(s.write(kUser - 8, buf, 16, d), tlm::TLM_ADDRESS_ERROR_RESPONSE);   // RAM end
    EXPECT_EQ(s.read(kUser + 0x2000, buf, 8, d), tlm::TLM_ADDRESS_ERROR_RESPONSE);  // unpinned
    EXPECT_EQ(s.write(kUser + 0x3ff8, buf, 16, d), tlm::TLM_ADDRESS_ERROR_RESPONSE);  // half pinned
    EXPECT_EQ(sc_time_stamp(), SC_ZERO_TIME);
    // Pinned frame: the bytes are the buffer's.
    const uint8_t hello[5] = {'h', 'e', 'l', 'l', 'o'};
    EXPECT_EQ(s.write(kUser + 0x3010, hello, 5, d), tlm::TLM_OK_RESPONSE);
  };
  sc_start();
  EXPECT_TRUE(ini.finished);
  EXPECT_EQ(mem.stats().get("address_errors"), 5u);
  EXPECT_EQ(std::memcmp(page.data() + 0x10, "hello", 5), 0);
  EXPECT_EQ(page[0x0ff8], 0);  // the failed half-pinned write changed nothing
}

TEST(Memory, ByteEnablesAndStreamingWidth) {
  phys_memory mem("mem", test_cfg(), timing_mode::cycle, nullptr);
  script_initiator ini("ini");
  ini.socket.bind(mem.socket);
  const uint64_t pa = kRam + 0x800;
  const uint64_t ones = ~0ULL;
  ASSERT_TRUE(mem.write(pa, &ones, 8));
  ini.body = [&](script_initiator &s) {
    sc_time d = SC_ZERO_TIME;
    uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const uint8_t be[2] = {TLM_BYTE_ENABLED, TLM_BYTE_DISABLED};  // repeats every 2 bytes
    ASSERT_EQ(s.access<atomic_extension>(tlm::TLM_WRITE_COMMAND, pa, data, 8, d, nullptr, be, 2),
              tlm::TLM_OK_RESPONSE);
    tlm::tlm_generic_payload p;
    p.set_command(tlm::TLM_READ_COMMAND);
    p.set_address(pa);
    p.set_data_ptr(data);
    p.set_data_length(8);
    p.set_streaming_width(4);  // a FIFO-style burst: not memory
    s.socket->b_transport(p, d);
    EXPECT_EQ(p.get_response_status(), tlm::TLM_BURST_ERROR_RESPONSE);
  };
  sc_start();
  uint8_t got[8];
  ASSERT_TRUE(mem.read(pa, got, 8));
  const uint8_t want[8] = {1, 0xff, 3, 0xff, 5, 0xff, 7, 0xff};
  EXPECT_EQ(std::memcmp(got, want, 8), 0);
}

TEST(Memory, DebugTransportIsUntimedAndUncounted) {
  phys_memory mem("mem", test_cfg(), timing_mode::cycle, nullptr);
  script_initiator ini("ini");
  ini.socket.bind(mem.socket);
  ini.body = [&](script_initiator &s) {
    uint64_t v = 0xabcdef, r = 0;
    EXPECT_EQ(s.dbg(tlm::TLM_WRITE_COMMAND, kRam + 0x10, &v, 8), 8u);
    EXPECT_EQ(s.dbg(tlm::TLM_READ_COMMAND, kRam + 0x10, &r, 8), 8u);
    EXPECT_EQ(r, v);
    EXPECT_EQ(s.dbg(tlm::TLM_READ_COMMAND, 0x10, &r, 8), 0u);
    EXPECT_EQ(sc_time_stamp(), SC_ZERO_TIME);
  };
  sc_start();
  EXPECT_TRUE(ini.finished);
  EXPECT_EQ(mem.stats().get("reads") + mem.stats().get("writes"), 0u);
}

memory_config small_ram() {
  auto c = test_cfg();
  c.ram_size = 64 * 1024;  // 16 pages
  return c;
}

TEST(MemoryAlloc, AlignedFirstFitAndExhaustion) {
  phys_memory mem("mem", small_ram(), timing_mode::cycle, nullptr);
  EXPECT_EQ(mem.alloc(1, 0), kRam);                   // one page
  EXPECT_EQ(mem.alloc(4096, 16384), kRam + 0x4000);   // aligned: skips 0x1000..0x3fff
  EXPECT_EQ(mem.alloc(8192, 4096), kRam + 0x1000);    // first fit fills the hole
  EXPECT_EQ(mem.alloc(4096, 3000), kRam + 0x3000);    // alignment rounds up to a page
  EXPECT_EQ(mem.alloc(0, 4096), 0u);
  EXPECT_EQ(mem.alloc(11 * 4096, 4096), kRam + 0x5000);  // the rest, exactly
  EXPECT_EQ(mem.alloc(4096, 4096), 0u);               // exhausted
}

TEST(MemoryAlloc, FreedPagesReadZeroAndRunsMerge) {
  phys_memory mem("mem", small_ram(), timing_mode::cycle, nullptr);
  const uint64_t a = mem.alloc(8192, 4096);
  const uint64_t b = mem.alloc(4096, 4096);
  ASSERT_EQ(a, kRam);
  ASSERT_EQ(b, kRam + 0x2000);
  std::vector<uint8_t> junk(8192, 0x5a);
  ASSERT_TRUE(mem.write(a, junk.data(), junk.size()));
  EXPECT_EQ(mem.resident_pages(), 2u);
  mem.free(a, 8192);
  EXPECT_EQ(mem.resident_pages(), 0u);
  const uint64_t c = mem.alloc(4096, 4096);
  EXPECT_EQ(c, a);
  std::vector<uint8_t> got(4096, 1);
  ASSERT_TRUE(mem.read(c, got.data(), got.size()));
  EXPECT_TRUE(std::all_of(got.begin(), got.end(), [](uint8_t x) { return x == 0; }));
  // Even bytes written to a free page before it is handed out read zero.
  ASSERT_TRUE(mem.write(kRam + 0x1000, junk.data(), 16));
  const uint64_t d = mem.alloc(4096, 4096);
  EXPECT_EQ(d, kRam + 0x1000);
  ASSERT_TRUE(mem.read(d, got.data(), 16));
  EXPECT_EQ(got[0], 0);
  // Freeing everything (in pieces, one twice) gives back one run.
  mem.free(b, 4096);
  mem.free(c, 4096);
  mem.free(d, 4096);
  mem.free(d, 4096);
  EXPECT_EQ(mem.alloc(64 * 1024, 4096), kRam);
}

TEST(MemoryAlloc, ConcurrentThreadsGetDisjointRuns) {
  auto c = test_cfg();
  c.ram_size = 64ULL << 20;
  phys_memory mem("mem", c, timing_mode::cycle, nullptr);
  constexpr int kThreads = 4, kRounds = 300;
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> got(kThreads);
  std::atomic<bool> failed{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kRounds; i++) {
        const uint64_t bytes = 4096ULL * (1 + rng() % 4);
        const uint64_t pa = mem.alloc(bytes, 4096ULL << (rng() % 3));
        if (!pa) {
          failed = true;
          return;
        }
        uint64_t tag = (uint64_t(t) << 32) | i;
        mem.write(pa, &tag, 8);
        got[t].push_back({pa, bytes});
        if (i % 3 == 2) {  // give some back while others allocate
          auto [fpa, fbytes] = got[t][got[t].size() - 2];
          mem.free(fpa, fbytes);
          got[t].erase(got[t].end() - 2);
        }
      }
    });
  }
  for (auto &th : ts) th.join();
  ASSERT_FALSE(failed);
  std::vector<std::pair<uint64_t, uint64_t>> all;
  for (auto &v : got) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  for (size_t i = 1; i < all.size(); i++)
    EXPECT_LE(all[i - 1].first + all[i - 1].second, all[i].first) << "overlap at " << i;
  for (auto &[pa, bytes] : all) mem.free(pa, bytes);
  EXPECT_EQ(mem.alloc(64ULL << 20, 4096), kRam);
}

// --- statistics -----------------------------------------------------------------

TEST(Stats, HistogramExactBelow64) {
  latency_histogram h;
  for (uint64_t v = 0; v < 64; v++) h.add(v);
  EXPECT_EQ(h.count(), 64u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 63u);
  EXPECT_DOUBLE_EQ(h.mean(), 31.5);
  EXPECT_EQ(h.percentile(0.5), 31u);   // 32 of 64 samples are <= 31
  EXPECT_EQ(h.percentile(0.51), 32u);
  EXPECT_EQ(h.percentile(0.99), 63u);
  EXPECT_EQ(h.percentile(0.0), 0u);
  EXPECT_EQ(h.percentile(1.0), 63u);
  latency_histogram empty;
  EXPECT_EQ(empty.percentile(0.5), 0u);
  EXPECT_EQ(empty.min(), 0u);
}

TEST(Stats, HistogramLogLinearBucketsBoundTheError) {
  latency_histogram h;
  h.add(1000);  // bucket [992, 1023]: 16 sub-buckets of 32 in octave [512, 1024)
  h.add(1001);
  h.add(5000);
  EXPECT_EQ(h.percentile(0.5), 1023u);  // the bucket's top: never below the truth
  EXPECT_EQ(h.percentile(0.9), 5000u);  // clamped to the largest sample
  EXPECT_DOUBLE_EQ(h.mean(), 7001.0 / 3);
  // Across the range, a percentile is >= the exact one and within 1/16 above it.
  std::mt19937_64 rng(7);
  latency_histogram r;
  std::vector<uint64_t> vals;
  for (int i = 0; i < 5000; i++) {
    const uint64_t v = rng() >> (rng() % 60);
    vals.push_back(v);
    r.add(v);
  }
  std::sort(vals.begin(), vals.end());
  for (double q : {0.1, 0.25, 0.5, 0.9, 0.999}) {
    const uint64_t exact = vals[static_cast<size_t>(std::ceil(q * vals.size())) - 1];
    const uint64_t got = r.percentile(q);
    EXPECT_GE(got, exact) << q;
    EXPECT_LE(static_cast<double>(got), static_cast<double>(exact) * (1.0 + 1.0 / 16) + 1) << q;
  }
  latency_histogram top;
  top.add(UINT64_MAX);
  EXPECT_EQ(top.percentile(0.5), UINT64_MAX);
}

TEST(Stats, RegistryListsGroupsByName) {
  stats_group b("smmu0.tlb"), a("mem"), c("smmu0.cmdq");
  auto &reg = stats_registry::get();
  reg.add(&b);
  reg.add(&a);
  reg.add(&c);
  reg.add(&a);  // twice: listed once
  std::vector<std::string> names;
  reg.for_each([&](const stats_group &g) { names.push_back(g.name()); });
  EXPECT_EQ(names, (std::vector<std::string>{"mem", "smmu0.cmdq", "smmu0.tlb"}));
  reg.remove(&c);
  names.clear();
  reg.for_each([&](const stats_group &g) { names.push_back(g.name()); });
  EXPECT_EQ(names, (std::vector<std::string>{"mem", "smmu0.tlb"}));
  reg.remove(&a);
  reg.remove(&b);
  a.counter("x") = 3;
  a.histogram("h").add(4);
  a.reset();
  EXPECT_EQ(a.get("x"), 0u);
  EXPECT_TRUE(a.histograms().empty());
}

}  // namespace
