// SPDX-License-Identifier: MIT
// Platform configuration: every class of mistake is reported as
// FILE:LINE:COL: reason, all of them at once, in file order; a minimal file
// works; the sample configs load and their YAML and JSON forms agree.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sim/config.h"

using namespace iommusim::sim;

namespace {

std::vector<std::string> errors_of(const std::string &text, const std::string &format = "yaml") {
  platform_config c;
  std::vector<config_error> errs;
  const bool ok = load_config_string(text, format, &c, &errs, "t.yaml");
  EXPECT_EQ(ok, errs.empty());
  std::vector<std::string> out;
  for (const config_error &e : errs) out.push_back(e.str());
  return out;
}

platform_config parse_ok(const std::string &text) {
  platform_config c;
  std::vector<config_error> errs;
  EXPECT_TRUE(load_config_string(text, "yaml", &c, &errs, "t.yaml")) << format_errors(errs);
  return c;
}

// The first line of an error, up to the given length: some messages end in a
// list of valid keys that the test need not spell out.
std::string head(const std::string &s, size_t n) { return s.substr(0, n); }

std::string source_dir() { return IOMMUSIM_SOURCE_DIR; }

}  // namespace

TEST(PlatformConfig, EmptyTextGivesEveryDefault) {
  platform_config c = parse_ok("");
  EXPECT_EQ(c.timing, iommusim::models::timing_mode::cycle);
  EXPECT_EQ(c.quantum_ns, 1000u);
  EXPECT_EQ(c.memory.ram_base, 0x8000'0000u);
  EXPECT_EQ(c.memory.user_base, 0x1'0000'0000u);
  EXPECT_EQ(c.host_cpu.mmio_read, 200u);
  EXPECT_TRUE(c.iommus.empty());
  EXPECT_TRUE(c.devices.empty());
}

TEST(PlatformConfig, MinimalPlatformTakesDefaultsAndPlacesThings) {
  platform_config c = parse_ok(
      "iommus: [{name: smmu0}]\n"
      "devices:\n"
      "  - {name: d0, type: dma_test, stream_id: 1}\n"
      "  - {name: d1, type: dma_test, stream_id: 2, vfio: true}\n");
  ASSERT_EQ(c.iommus.size(), 1u);
  const iommu_desc &io = c.iommus[0];
  EXPECT_EQ(io.base, 0x0900'0000u);
  EXPECT_EQ(io.driver.base, io.base);
  EXPECT_EQ(io.smmu.main_tlb.entries, 2048u);  // MMU-600-like model defaults
  // Lines: the IOMMU's four first, then the devices'.
  EXPECT_EQ(io.driver.irq_eventq, 0u);
  EXPECT_EQ(io.driver.irq_priq, 1u);
  EXPECT_EQ(io.driver.irq_gerror, 2u);
  EXPECT_EQ(io.driver.irq_cmd_sync, 3u);
  ASSERT_EQ(c.devices.size(), 2u);
  EXPECT_EQ(c.devices[0].iommu, "smmu0");  // the only IOMMU
  EXPECT_EQ(c.devices[0].irq, 4u);
  EXPECT_EQ(c.devices[1].irq, 5u);
  EXPECT_EQ(c.devices[0].bar, 0x1000'0000u);
  EXPECT_EQ(c.devices[1].bar, 0x1000'1000u);
  EXPECT_TRUE(c.devices[1].vfio);
}

TEST(PlatformConfig, SyntaxError) {
  auto e = errors_of("timing: cycle\nmemory: {clock_mhz: 1000\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(head(e[0], 9), "t.yaml:3:") << e[0];
  EXPECT_NE(e[0].find("syntax error"), std::string::npos) << e[0];
}

TEST(PlatformConfig, UnknownKeySuggestsTheNearOne) {
  auto e = errors_of("timing: cycle\nmemroy: {}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(head(e[0], 58), "t.yaml:2:1: memroy: unknown key (did you mean 'memory'?); ") << e[0];
  auto n = errors_of("iommus:\n  - name: smmu0\n    main_tlb: {entries: 64, way: 4}\n");
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(head(n[0], 76), "t.yaml:3:29: iommus[0].main_tlb.way: unknown key (did you mean 'ways'?); kno")
      << n[0];
}

TEST(PlatformConfig, DuplicateKey) {
  auto e = errors_of("timing: cycle\ntiming: fast\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "t.yaml:2:1: timing: duplicate key (first given at line 1, column 1)");
}

TEST(PlatformConfig, WrongType) {
  auto e = errors_of("quantum_ns: fast\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0],
            "t.yaml:1:13: quantum_ns: expected a non-negative integer (decimal, 0x hex, 0b, 0o; "
            "K/M/G suffixes), found 'fast'");
  auto b = errors_of("devices:\n  - {name: d0, type: dma_test, stream_id: 1, vfio: yes}\niommus: [{}]\n");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0], "t.yaml:2:52: devices[0].vfio: expected true or false, found 'yes'");
  auto m = errors_of("memory: [1, 2]\n");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0], "t.yaml:1:9: memory: expected a mapping of keys to values, found a list");
}

TEST(PlatformConfig, OutOfRange) {
  auto e = errors_of("host_cpu: {cores: 0}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "t.yaml:1:19: host_cpu.cores: must be in [1, 64], found 0");
  auto c = errors_of("memory: {clock_mhz: -5}\n");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0], "t.yaml:1:21: memory.clock_mhz: must be greater than 0 and at most 1e+06, found -5");
  auto t = errors_of("timing: slow\n");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0], "t.yaml:1:9: timing: must be one of cycle, fast, found 'slow'");
}

TEST(PlatformConfig, CacheGeometry) {
  auto e = errors_of(
      "iommus:\n"
      "  - name: smmu0\n"
      "    main_tlb: {entries: 2048, ways: 3}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "t.yaml:3:37: iommus[0].main_tlb: main_tlb: ways 3 does not divide entries 2048");
  auto w = errors_of(
      "iommus:\n"
      "  - name: smmu0\n"
      "    walk_cache:\n"
      "      s1:\n"
      "        - {level: 2, entries: 96, ways: 4, policy: plru}\n");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0],
            "t.yaml:5:41: iommus[0].walk_cache.s1[0]: wc_s1_l2: 96 entries / 4 ways = 24 sets, not a "
            "power of two (the set index is a bit field of the hash)");
  auto a = errors_of(
      "iommus: [{name: smmu0}]\n"
      "devices:\n"
      "  - {name: a0, type: ats_endpoint, stream_id: 1, atc: {entries: 8, ways: 16}}\n");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0],
            "t.yaml:3:74: devices[0].atc: atc: ways 16 exceeds entries 8 (ways 0 or ways = entries means "
            "fully associative)");
}

TEST(PlatformConfig, MemoryCheck) {
  auto e = errors_of("memory: {ram_size: 4GiB, user_base: 0x1_0000_0000}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "t.yaml:1:37: memory: memory user_base must lie above the end of RAM");
}

TEST(PlatformConfig, SmmuModelCheck) {
  auto e = errors_of(
      "iommus:\n"
      "  - name: smmu0\n"
      "    idr: {oas: 47}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "t.yaml:3:16: iommus[0]: idr.oas 47 is not one of 32, 36, 40, 42, 44, 48, 52");
  auto p = errors_of(
      "iommus:\n"
      "  - name: smmu0\n"
      "    idr: {ats: false, pri: true}\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], "t.yaml:3:28: iommus[0]: idr.pri needs idr.ats (PRI is a PCIe ATS feature)");
}

TEST(PlatformConfig, OverlappingWindows) {
  auto e = errors_of(
      "iommus:\n"
      "  - {name: smmu0, base: 0x0900_0000}\n"
      "devices:\n"
      "  - {name: d0, type: dma_test, stream_id: 1, bar: 0x0901_0000}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0],
            "t.yaml:4:51: device 'd0' BAR0 [0x9010000, 0x9011000) overlaps IOMMU 'smmu0' registers "
            "[0x9000000, 0x9020000) (line 2)");
  auto r = errors_of("iommus:\n  - {name: smmu0, base: 0x8010_0000}\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0],
            "t.yaml:2:25: IOMMU 'smmu0' registers [0x80100000, 0x80120000) overlaps kernel RAM "
            "(memory.ram_base, ram_size)");
}

TEST(PlatformConfig, DanglingIommuReference) {
  auto e = errors_of(
      "iommus:\n"
      "  - {name: smmu0}\n"
      "devices:\n"
      "  - {name: d0, type: dma_test, iommu: smmu1, stream_id: 1}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "t.yaml:4:39: devices[0].iommu: no IOMMU named 'smmu1' (IOMMUs: smmu0)");
}

TEST(PlatformConfig, DuplicateStreamIds) {
  auto e = errors_of(
      "iommus:\n"
      "  - {name: smmu0}\n"
      "devices:\n"
      "  - {name: d0, type: dma_test, stream_id: 7}\n"
      "  - {name: d1, type: dma_test, stream_id: 7}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0],
            "t.yaml:5:43: devices[1].stream_id: StreamID 0x7 behind 'smmu0' is already used by device "
            "'d0' (line 4)");
  // Behind different IOMMUs the same StreamID is fine.
  parse_ok(
      "iommus: [{name: a}, {name: b}]\n"
      "devices:\n"
      "  - {name: d0, type: dma_test, iommu: a, stream_id: 7}\n"
      "  - {name: d1, type: dma_test, iommu: b, stream_id: 7}\n");
}

TEST(PlatformConfig, NamesAndInterruptLines) {
  auto e = errors_of(
      "iommus:\n"
      "  - {name: smmu0, irq: {eventq: 9}}\n"
      "devices:\n"
      "  - {name: smmu0, type: dma_test, stream_id: 1}\n"
      "  - {name: 'my dev', type: dma_test, stream_id: 2}\n"
      "  - {name: d2, type: dma_test, stream_id: 3, irq: 9}\n");
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0], "t.yaml:4:12: devices[0].name: name 'smmu0' is already used (at line 2)");
  EXPECT_EQ(e[1],
            "t.yaml:5:12: devices[1].name: 'my dev' is not a valid name (letters, digits and '_', not "
            "starting with a digit)");
  EXPECT_EQ(e[2], "t.yaml:6:51: devices[2].irq: interrupt line 9 is already taken by iommus[0].irq.eventq (line 2)");
}

TEST(PlatformConfig, MissingKeysAndUnknownType) {
  auto e = errors_of(
      "iommus: [{name: smmu0}]\n"
      "devices:\n"
      "  - {name: d0, type: dma_tset, stream_id: 1}\n"
      "  - {name: d1, type: dma_test}\n");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0],
            "t.yaml:3:22: devices[0].type: must be one of dma_test, traffic_gen, trace_replayer, "
            "ats_endpoint, pri_device, found 'dma_tset'");
  EXPECT_EQ(e[1], "t.yaml:4:5: devices[1]: missing key 'stream_id' (the device's StreamID / RequesterID)");
}

TEST(PlatformConfig, EveryErrorAtOnceInFileOrder) {
  auto e = errors_of(
      "timing: fastest\n"
      "iommus:\n"
      "  - name: smmu0\n"
      "    main_tlb: {entries: 100, ways: 3}\n"
      "devices:\n"
      "  - {name: d0, type: dma_test, iommu: nope, stream_id: 1}\n"
      "host_cpu: {clock: 3}\n");
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(head(e[0], 12), "t.yaml:1:9: ");
  EXPECT_EQ(head(e[1], 13), "t.yaml:4:36: ");
  EXPECT_EQ(head(e[2], 13), "t.yaml:6:39: ");
  EXPECT_EQ(head(e[3], 13), "t.yaml:7:12: ");
}

TEST(PlatformConfig, JsonPositions) {
  auto e = errors_of("{\n  \"timing\": \"slow\",\n  \"iommus\": [{\"name\": \"s\", \"bogus\": 1}]\n}\n", "json");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0], "t.yaml:2:13: timing: must be one of cycle, fast, found 'slow'");
  EXPECT_EQ(head(e[1], 43), "t.yaml:3:28: iommus[0].bogus: unknown key; ") << e[1];
}

TEST(PlatformConfig, FileErrors) {
  platform_config c;
  std::vector<config_error> errs;
  EXPECT_FALSE(load_config_file("/nonexistent/p.yaml", &c, &errs));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].str(), "/nonexistent/p.yaml: cannot open: No such file or directory");
  EXPECT_EQ(errs[0].sys_errno, ENOENT);

  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/bad_platform.yaml";
  {
    std::ofstream f(path);
    f << "iommus:\n  - {name: smmu0, base: 12}\n";
  }
  errs.clear();
  EXPECT_FALSE(load_config_file(path, &c, &errs));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].str(), path + ":2:25: iommus[0].base: an SMMUv3's registers must be 64 KiB aligned, found 0xc");
}

TEST(PlatformConfig, TraceReplayerReadsItsTrace) {
  const std::string dir = ::testing::TempDir();
  {
    std::ofstream f(dir + "/good.trace");
    f << "0 0x40 - 0x1000 64 R\n10 0x40 - 0x2000 64 W\n";
    std::ofstream g(dir + "/bad.trace");
    g << "0 0x40 - 0x1000 64 R\n0 0x41 - 0x1000 64 R\n";
  }
  platform_config c;
  std::vector<config_error> errs;
  const std::string text = "iommus: [{name: smmu0}]\ndevices:\n  - {name: t0, type: trace_replayer, trace: " + dir +
                           "/good.trace}\n";
  ASSERT_TRUE(load_config_string(text, "yaml", &c, &errs, "t.yaml")) << format_errors(errs);
  EXPECT_EQ(c.devices[0].stream_id, 0x40u);  // from the trace
  EXPECT_EQ(c.devices[0].records.size(), 2u);
  auto e = errors_of("iommus: [{name: smmu0}]\ndevices:\n  - {name: t0, type: trace_replayer, trace: " + dir +
                     "/bad.trace}\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "t.yaml:3:45: devices[0].trace: " + dir +
                      "/bad.trace:2: StreamID 0x41 is not the device's (0x40); a device has one StreamID");
  auto m = errors_of("iommus: [{name: smmu0}]\ndevices:\n  - {name: t0, type: trace_replayer, trace: /nonexistent.trace}\n");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(head(m[0], 50), "t.yaml:3:45: devices[0].trace: /nonexistent.trace:") << m[0];
}

TEST(PlatformConfig, FstNeedsVcd2fst) {
  const char *old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  setenv("PATH", "/nonexistent", 1);
  auto e = errors_of("output: {fst: out.fst}\n");
  setenv("PATH", saved.c_str(), 1);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0],
            "t.yaml:1:15: output.fst: vcd2fst (from GTKWave) is not on PATH, so FST cannot be written; "
            "install gtkwave (apt-get install gtkwave) or ask for output.vcd instead");
}

TEST(PlatformConfig, SampleConfigsLoadAndAgree) {
  platform_config y, j;
  std::vector<config_error> errs;
  ASSERT_TRUE(load_config_file(source_dir() + "/sim/configs/smmuv3_default.yaml", &y, &errs)) << format_errors(errs);
  ASSERT_TRUE(load_config_file(source_dir() + "/sim/configs/smmuv3_default.json", &j, &errs)) << format_errors(errs);
  ASSERT_EQ(y.iommus.size(), 1u);
  ASSERT_EQ(j.iommus.size(), 1u);
  ASSERT_EQ(y.devices.size(), 3u);
  ASSERT_EQ(j.devices.size(), 3u);
  EXPECT_EQ(y.memory.ram_size, j.memory.ram_size);
  EXPECT_EQ(y.iommus[0].base, j.iommus[0].base);
  EXPECT_EQ(y.iommus[0].smmu.main_tlb.ways, j.iommus[0].smmu.main_tlb.ways);
  EXPECT_EQ(y.iommus[0].smmu.walk_cache_s1[2].entries, 128u);
  EXPECT_EQ(j.iommus[0].smmu.walk_cache_s1[2].entries, 128u);
  for (size_t i = 0; i < 3; i++) {
    EXPECT_EQ(y.devices[i].name, j.devices[i].name);
    EXPECT_EQ(y.devices[i].type, j.devices[i].type);
    EXPECT_EQ(y.devices[i].stream_id, j.devices[i].stream_id);
    EXPECT_EQ(y.devices[i].bar, j.devices[i].bar);
    EXPECT_EQ(y.devices[i].irq, j.devices[i].irq);
    EXPECT_EQ(y.devices[i].vfio, j.devices[i].vfio);
    EXPECT_EQ(y.devices[i].pri, j.devices[i].pri);
    EXPECT_EQ(y.devices[i].ats, j.devices[i].ats);
  }
  EXPECT_TRUE(y.devices[0].vfio);
  EXPECT_TRUE(y.devices[1].ats);
  EXPECT_TRUE(y.devices[2].pri);
}
