// SPDX-License-Identifier: MIT
// Outputs: statistics as JSON and as a table, the VCD (IRQ lines, SMMUv3
// queue pointers, device busy), the transaction log of DMAs at the IOMMU's
// upstream socket, on request (C API) and at shutdown; FST through vcd2fst
// when GTKWave is installed.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/iommufd_private.h"
#include "core/vfs.h"
#include "iommusim/iommufd.h"
#include "iommusim/iommufd_sim.h"
#include "iommusim/platform.h"
#include "models/devices/dma_test.h"
#include "sim/platform.h"

using namespace iommusim;
using namespace iommusim::sim;
using models::dma_test;

namespace {

std::string read_file(const std::string &path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string with_outputs(const std::string &output_yaml) {
  return read_file(std::string(IOMMUSIM_SOURCE_DIR) + "/sim/configs/smmuv3_default.yaml") + "output: " +
         output_yaml + "\n";
}

iommufd::iommufd_ctx *ctx_of(int fd) {
  iommufd::file *f = iommufd::fd_table::get().fget(fd);
  auto *ictx = f ? dynamic_cast<iommufd::iommufd_ctx *>(f) : nullptr;
  if (f) f->put();
  return ictx;
}

// Map one page of the program at IOVA 0x100000 for dma0 and fill it, then
// touch an unmapped IOVA (a fault: an event, an interrupt).
void one_good_and_one_bad_dma(platform &p) {
  platform::device *dev = p.find_device("dma0");
  iommufd::host_bus &bus = p.bus();
  const int fd = iommusim_open();
  ASSERT_GE(fd, 0);
  iommu_ioas_alloc a{};
  a.size = sizeof(a);
  ASSERT_EQ(iommusim_ioctl(fd, IOMMU_IOAS_ALLOC, &a), 0);
  uint32_t id = 0;
  auto idev = iommufd::iommufd_device_bind(ctx_of(fd), dev->dev, &id);
  ASSERT_FALSE(idev.is_err());
  uint32_t pt = a.out_ioas_id;
  ASSERT_EQ(iommufd::iommufd_device_attach(idev.get(), &pt), 0);
  void *buf = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  iommu_ioas_map m{};
  m.size = sizeof(m);
  m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
  m.ioas_id = a.out_ioas_id;
  m.user_va = reinterpret_cast<uint64_t>(buf);
  m.length = 4096;
  m.iova = 0x10'0000;
  ASSERT_EQ(iommusim_ioctl(fd, IOMMU_IOAS_MAP, &m), 0);
  for (uint64_t dst : {uint64_t{0x10'0000}, uint64_t{0x70'0000}}) {
    bus.writeq(dev->bar + dma_test::DST, dst);
    bus.writeq(dev->bar + dma_test::LEN, 4096);
    bus.writeq(dev->bar + dma_test::CTRL, dma_test::CTRL_FILL);
    bus.writeq(dev->bar + dma_test::PATTERN, 0x5a);
    bus.writeq(dev->bar + dma_test::GO, 1);
    ASSERT_TRUE(bus.poll32(dev->bar + dma_test::STATUS, dma_test::ST_DONE, dma_test::ST_DONE, 100, 10'000'000));
  }
  EXPECT_EQ(static_cast<uint8_t *>(buf)[4095], 0u);  // byte 7 of the pattern
  EXPECT_EQ(static_cast<uint8_t *>(buf)[0], 0x5au);
  p.run_until_idle();
  iommufd::iommufd_device_detach(idev.get());
  iommufd::iommufd_device_unbind(idev.get());
  iommusim_close(fd);
  munmap(buf, 4096);
}

}  // namespace

TEST(PlatformOutputs, StatsWaveformsAndTransactionLog) {
  const std::string dir = ::testing::TempDir() + "iommusim_out_" + std::to_string(getpid());
  ASSERT_EQ(system(("mkdir -p " + dir).c_str()), 0);
  const std::string json = dir + "/stats.json", table = dir + "/stats.txt", vcd = dir + "/waves.vcd",
                    log = dir + "/txn.csv", now = dir + "/now.json";
  platform &p = platform::load_string(with_outputs("{stats_json: " + json + ", stats_table: " + table +
                                                   ", vcd: " + vcd + ", txn_log: " + log + "}"));
  one_good_and_one_bad_dma(p);

  // On request, while running.
  ASSERT_EQ(iommusim_platform_write_stats(now.c_str()), 0) << iommusim_platform_error();
  auto mid = nlohmann::json::parse(read_file(now));
  EXPECT_GT(mid["sim_time_ps"].get<uint64_t>(), 0u);
  EXPECT_GT(mid["groups"]["host_cpu"]["counters"]["mmio_writes"].get<uint64_t>(), 0u);

  p.shutdown();

  // Statistics at exit: every component's group.
  auto j = nlohmann::json::parse(read_file(json));
  EXPECT_EQ(j["timing"], "cycle");
  auto &g = j["groups"];
  for (const char *name : {"host_cpu", "memory", "mmio_bus", "memory_bus", "irq", "upstream.dma0", "smmu0",
                           "smmu0.driver", "dma0"})
    EXPECT_TRUE(g.contains(name)) << name;
  EXPECT_EQ(g["upstream.dma0"]["counters"]["writes"].get<uint64_t>(), 4096 / 64 + 1);
  EXPECT_EQ(g["upstream.dma0"]["counters"]["faults"].get<uint64_t>(), 1u);
  EXPECT_GT(g["upstream.dma0"]["histograms"]["translate_cycles"]["count"].get<uint64_t>(), 0u);
  EXPECT_GE(g["smmu0.driver"]["counters"]["events"].get<uint64_t>(), 1u);
  EXPECT_GE(g["irq"]["counters"]["irqs_handled"].get<uint64_t>(), 1u);
  const std::string t = read_file(table);
  EXPECT_NE(t.find("iommusim statistics at"), std::string::npos);
  EXPECT_NE(t.find("upstream.dma0"), std::string::npos);

  // Waveforms: the signals named, and time moving.
  const std::string w = read_file(vcd);
  for (const char *sig : {"smmu0_eventq", "cmdq_prod", "cmdq_cons", "eventq_prod", "priq_cons", "busy", "dma0_done"})
    EXPECT_NE(w.find(sig), std::string::npos) << sig;
  EXPECT_NE(w.find("$timescale"), std::string::npos);
  EXPECT_NE(w.find("\n#"), std::string::npos);
  // Edges show: the device's done interrupt (a pulse) and its BUSY bit rose.
  for (const char *sig : {"dma0_done", "busy"}) {
    std::istringstream vars(w);
    std::string l, code;
    while (std::getline(vars, l))
      if (l.find("$var") == 0 && l.find(std::string(" ") + sig + " ") != std::string::npos) {
        std::istringstream f(l);
        std::string tok[4];
        f >> tok[0] >> tok[1] >> tok[2] >> tok[3];
        code = tok[3];
        break;
      }
    ASSERT_FALSE(code.empty()) << sig;
    const size_t body = w.find("$enddefinitions");
    EXPECT_NE(w.find("\n1" + code + "\n", body), std::string::npos) << sig << " never went high";
  }

  // Transaction log: a header, then one line per DMA: 64 good writes and
  // the faulting one.
  std::istringstream in(read_file(log));
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line,
            "time_ps,device,stream_id,ssid,addr,size,dir,at,status,fault_type,translate_cycles,output_addr,latency_ps");
  int ok = 0, fault = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(line.find(",dma0,0x10,-,"), line.find(','));
    if (line.find(",W,untranslated,ok,") != std::string::npos) ok++;
    if (line.find(",W,untranslated,fault,") != std::string::npos) {
      fault++;
      EXPECT_NE(line.find(",0x700000,64,"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(ok, 64);
  EXPECT_EQ(fault, 1);
}

TEST(PlatformOutputs, FstThroughVcd2fst) {
  const std::string dir = ::testing::TempDir() + "iommusim_fst_" + std::to_string(getpid());
  ASSERT_EQ(system(("mkdir -p " + dir).c_str()), 0);
  if (system("command -v vcd2fst > /dev/null 2>&1") != 0) {
    // No GTKWave here: a stand-in vcd2fst that checks its input is a VCD and
    // writes a marker, so the plumbing (VCD first, convert, remove the VCD)
    // is still tested.
    std::ofstream s(dir + "/vcd2fst");
    s << "#!/bin/sh\ngrep -q '\\$enddefinitions' \"$1\" || exit 1\necho FAKE-FST > \"$2\"\n";
    s.close();
    ASSERT_EQ(chmod((dir + "/vcd2fst").c_str(), 0755), 0);
    setenv("PATH", (dir + ":" + std::getenv("PATH")).c_str(), 1);
  }
  const std::string fst = dir + "/waves.fst";
  platform &p = platform::load_string(with_outputs("{fst: " + fst + "}"));
  one_good_and_one_bad_dma(p);
  p.shutdown();
  EXPECT_GT(read_file(fst).size(), 0u);
  // Only the FST is left: the intermediate VCD is removed.
  EXPECT_NE(access((fst + ".vcd").c_str(), F_OK), 0);
}
