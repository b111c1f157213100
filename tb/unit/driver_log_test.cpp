// SPDX-License-Identifier: MIT
// drivers/driver_log.h: the log lines and the record ring both IOMMU
// drivers keep.
#include <gtest/gtest.h>

#include <cstdarg>
#include <string>
#include <vector>

#include "drivers/driver_log.h"

namespace iommusim::test {
namespace {

using iommufd::driver_log;
using iommufd::record_ring;

void say(driver_log &log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void say(driver_log &log, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log.vprint(fmt, ap);
  va_end(ap);
}

TEST(DriverLog, SinkGetsPrefixedLines) {
  driver_log log("DMAR: dmar@0xfed90000");
  std::vector<std::string> lines;
  log.set_sink([&](const std::string &l) { lines.push_back(l); });
  say(log, "fault %u at %#llx", 6u, 0x1000ULL);
  ASSERT_EQ(1u, lines.size());
  EXPECT_EQ("DMAR: dmar@0xfed90000: fault 6 at 0x1000", lines[0]);
}

TEST(DriverLog, StderrTakesTwoHundredLinesThenSaysSoOnce) {
  driver_log log("arm-smmu-v3 0x9000000");
  testing::internal::CaptureStderr();
  for (int i = 0; i < 205; i++) say(log, "line %d", i);
  const std::string out = testing::internal::GetCapturedStderr();
  std::vector<std::string> lines;
  for (size_t a = 0, b; (b = out.find('\n', a)) != std::string::npos; a = b + 1)
    lines.push_back(out.substr(a, b - a));
  ASSERT_EQ(201u, lines.size());
  EXPECT_EQ("arm-smmu-v3 0x9000000: line 0", lines[0]);
  EXPECT_EQ("arm-smmu-v3 0x9000000: line 199", lines[199]);
  EXPECT_EQ("arm-smmu-v3 0x9000000: further messages suppressed", lines[200]);
}

TEST(RecordRing, KeepsTheLastSixtyFourOldestFirst) {
  record_ring<int> ring;
  for (int i = 0; i < 10; i++) ring.push(i);
  std::vector<int> want;
  for (int i = 0; i < 10; i++) want.push_back(i);
  EXPECT_EQ(want, ring.snapshot());
  for (int i = 10; i < 100; i++) ring.push(i);
  want.clear();
  for (int i = 36; i < 100; i++) want.push_back(i);
  EXPECT_EQ(want, ring.snapshot());
}

}  // namespace
}  // namespace iommusim::test
