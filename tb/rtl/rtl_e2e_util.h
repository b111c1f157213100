// SPDX-License-Identifier: MIT
// The comparison both RTL end-to-end tests make: one scenario, run in two
// processes, once on the cache template and once on the Verilated IOTLB,
// must give the same statistics document to the byte — IOMMU, devices,
// memory, host CPU, MMIO bus and simulated time (cycle mode is repeatable:
// docs/platform.md, "Determinism") — and the RTL run must have written its
// waveform file, proof that it ran.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "tb/sc/platform_test_util.h"

namespace iommusim::rtl_test {

// config(extra_keys) gives the platform text with the TLB's keys plus
// extra_keys; scenario(text) runs it and returns its JSON. The RTL run's
// parsed document, or null after a failure.
inline nlohmann::json same_run_on_cache_and_rtl(const std::string &tag, const std::string &tlb_keys,
                                                const std::function<std::string(const std::string &)> &config,
                                                const std::function<std::string(const std::string &)> &scenario,
                                                size_t min_groups) {
  const std::string waves = ::testing::TempDir() + tag + "_" + std::to_string(getpid()) + ".fst";
  const std::string sc = config(tlb_keys);
  const std::string rtl = config(tlb_keys + ", tlb_impl: rtl, tlb_trace: " + waves);
  EXPECT_FALSE(sc.empty());
  if (sc.empty()) return nullptr;
  const std::string a = platform_test::in_child_process(tag + "_systemc", [&] { return scenario(sc); });
  const std::string b = platform_test::in_child_process(tag + "_rtl", [&] { return scenario(rtl); });
  EXPECT_FALSE(a.empty());
  EXPECT_FALSE(b.empty());
  if (a.empty() || b.empty()) return nullptr;
  const auto ja = nlohmann::ordered_json::parse(a), jb = nlohmann::ordered_json::parse(b);
  EXPECT_GE(ja["stats"]["groups"].size(), min_groups);
  std::ifstream fst(waves, std::ios::binary | std::ios::ate);
  EXPECT_TRUE(fst.good());
  EXPECT_GT(static_cast<long>(fst.tellg()), 10000L);
  std::remove(waves.c_str());
  EXPECT_EQ(ja.dump(1), jb.dump(1));
  return nlohmann::json::parse(b);
}

}  // namespace iommusim::rtl_test
