// SPDX-License-Identifier: MIT
// The text trace parser (fields, comments, flags, file:line errors) and the
// replayer: gaps, per-line streams and PASIDs, ATS and PRI lines, both modes.
// Path timing: device_bench.h.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "device_bench.h"
#include "models/devices/trace_replayer.h"

using namespace iommusim::models;
using iommusim::testing::kUser;
using iommusim::testing::ns;
using iommusim::testing::path_bench;
using sc_core::sc_start;

namespace {

std::vector<trace_record> parse_ok(const std::string &text) {
  std::istringstream in(text);
  std::vector<trace_record> out;
  std::string err;
  EXPECT_TRUE(parse_text_trace(in, "t.trace", &out, &err)) << err;
  return out;
}

std::string parse_err(const std::string &text) {
  std::istringstream in(text);
  std::vector<trace_record> out{trace_record{}};
  std::string err;
  EXPECT_FALSE(parse_text_trace(in, "t.trace", &out, &err)) << text;
  EXPECT_TRUE(out.empty());
  return err;
}

TEST(TraceFormat, ParsesFieldsCommentsAndFlags) {
  const auto r = parse_ok(
      "# a header comment\n"
      "\n"
      "0 0x10 - 0x1000 64 R\n"
      "  12\t16 0x5 4096 8 w ats   # trailing comment\n"
      "7 0x10 1048575 0xff0 16 W pri ats\n");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].line, 3u);
  EXPECT_EQ(r[0].gap_cycles, 0u);
  EXPECT_EQ(r[0].stream_id, 0x10u);
  EXPECT_FALSE(r[0].ssid_valid);
  EXPECT_EQ(r[0].addr, 0x1000u);
  EXPECT_EQ(r[0].size, 64u);
  EXPECT_FALSE(r[0].write);
  EXPECT_FALSE(r[0].ats || r[0].pri);
  EXPECT_EQ(r[1].line, 4u);
  EXPECT_EQ(r[1].gap_cycles, 12u);
  EXPECT_EQ(r[1].stream_id, 16u);
  EXPECT_TRUE(r[1].ssid_valid);
  EXPECT_EQ(r[1].ssid, 5u);
  EXPECT_EQ(r[1].addr, 4096u);
  EXPECT_TRUE(r[1].write);
  EXPECT_TRUE(r[1].ats);
  EXPECT_FALSE(r[1].pri);
  EXPECT_EQ(r[2].ssid, 0xfffffu);
  EXPECT_TRUE(r[2].ats && r[2].pri);
  EXPECT_TRUE(parse_ok("# nothing\n\n").empty());
}

TEST(TraceFormat, ErrorsNameFileLineAndReason) {
  const std::string good = "0 1 - 0x1000 8 R\n";
  EXPECT_EQ(parse_err(good + "0 1 - 0x1000 8\n"),
            "t.trace:2: expected '<gap_cycles> <stream_id> <pasid|-> <addr> <size> <R|W> [ats] "
            "[pri]', got 5 fields");
  EXPECT_EQ(parse_err(good + good + "x 1 - 0 8 R\n"), "t.trace:3: bad gap_cycles 'x'");
  EXPECT_EQ(parse_err("-1 1 - 0 8 R\n"), "t.trace:1: bad gap_cycles '-1'");
  EXPECT_EQ(parse_err("0 0x1g - 0 8 R\n"), "t.trace:1: bad stream_id '0x1g'");
  EXPECT_EQ(parse_err("0 4294967296 - 0 8 R\n"), "t.trace:1: bad stream_id '4294967296'");
  EXPECT_EQ(parse_err("0 1 p 0 8 R\n"), "t.trace:1: bad pasid 'p' (a number or '-')");
  EXPECT_EQ(parse_err("0 1 0x100000 0 8 R\n"), "t.trace:1: pasid 0x100000 does not fit in 20 bits");
  EXPECT_EQ(parse_err("0 1 - 0x1_000 8 R\n"), "t.trace:1: bad addr '0x1_000'");
  EXPECT_EQ(parse_err("0 1 - 99999999999999999999 8 R\n"),
            "t.trace:1: bad addr '99999999999999999999'");
  EXPECT_EQ(parse_err("0 1 - 0 0 R\n"), "t.trace:1: size 0 is not in 1..4096");
  EXPECT_EQ(parse_err("0 1 - 0 4097 R\n"), "t.trace:1: size 4097 is not in 1..4096");
  EXPECT_EQ(parse_err("# c\n0 1 - 0xff8 16 R\n"),
            "t.trace:2: access [0xff8, +16) crosses a 4 KiB boundary");
  EXPECT_EQ(parse_err("0 1 - 0 8 X\n"), "t.trace:1: direction must be R or W, got 'X'");
  EXPECT_EQ(parse_err("0 1 - 0 8 R atc\n"), "t.trace:1: unknown flag 'atc' (expected ats or pri)");
  EXPECT_EQ(parse_err("0 1 - 0 8 R pri pri\n"), "t.trace:1: flag 'pri' given twice");
}

TEST(TraceFormat, LoadFromFile) {
  const std::string path = ::testing::TempDir() + "iommusim_trace_test.trace";
  {
    std::ofstream f(path);
    f << "0 1 - 0x2000 8 W\n5 1 - 0x2000 8 R ats\n0 1 - 0x2000 8 Q\n";
  }
  std::vector<trace_record> r;
  std::string err;
  EXPECT_FALSE(load_text_trace(path, &r, &err));
  EXPECT_EQ(err, path + ":3: direction must be R or W, got 'Q'");
  {
    std::ofstream f(path);
    f << "0 1 - 0x2000 8 W\n5 1 - 0x2000 8 R ats\n";
  }
  EXPECT_TRUE(load_text_trace(path, &r, &err)) << err;
  EXPECT_EQ(r.size(), 2u);
  std::remove(path.c_str());
  EXPECT_FALSE(load_text_trace(path, &r, &err));
  EXPECT_EQ(err, path + ": cannot open: No such file or directory");
}

// Line 1 writes (5 + 1 + 50 + 2 = 58); line 2 asks for a gap of 50 but must
// wait for line 1: issue 58, latency 108; line 3 issues 500 after line 2.
void replay_test(timing_mode mode) {
  path_bench b(mode);
  b.iommu.map(0x2000, 0x1000, {true, true}, true, 5);
  trace_replayer_config c;
  trace_replayer rp("rp", c, mode,
                    parse_ok("0 0x10 - 0x1000 64 W\n"
                             "50 0x10 - 0x1000 64 R\n"
                             "500 0x11 5 0x2000 8 R\n"));
  b.attach(rp);
  sc_start();
  ASSERT_TRUE(rp.finished());
  const auto &res = rp.results();
  ASSERT_EQ(res.size(), 3u);
  EXPECT_EQ(res[0].issue_cycle, 0u);
  EXPECT_EQ(res[0].latency_cycles, 58u);
  EXPECT_EQ(res[1].issue_cycle, 58u);
  EXPECT_EQ(res[1].latency_cycles, 108u);
  EXPECT_EQ(res[2].issue_cycle, 558u);
  EXPECT_EQ(res[2].latency_cycles, 107u);
  for (const auto &r : res) EXPECT_TRUE(r.ok) << r.line;
  EXPECT_EQ(res[2].line, 3u);
  ASSERT_EQ(b.iommu.log.size(), 3u);
  EXPECT_EQ(b.iommu.log[2].stream_id, 0x11u);
  EXPECT_TRUE(b.iommu.log[2].ssid_valid);
  EXPECT_EQ(b.iommu.log[2].ssid, 5u);
  EXPECT_EQ(b.iommu.log[2].at_time, ns(558));
  for (unsigned k = 0; k < 64; k++) EXPECT_EQ(b.user[0x1000 + k], static_cast<uint8_t>(1 + k));
  EXPECT_EQ(rp.stats().get("transactions"), 3u);
  EXPECT_EQ(rp.stats().get("bytes"), 136u);
  EXPECT_EQ(rp.stats().get("writes"), 1u);
}

TEST(TraceReplayer, ReplaysWithGapsCycleMode) { replay_test(timing_mode::cycle); }
TEST(TraceReplayer, ReplaysWithGapsFastMode) { replay_test(timing_mode::fast); }

// Two slots: line 2 issues with line 1 in flight (at its gap, not at line 1's
// completion as with one slot); line 3 still keeps its gap after line 2; the
// results stay in line order.
TEST(TraceReplayer, OutstandingSlotsIssueInOrderWithoutWaiting) {
  path_bench b(timing_mode::cycle);
  trace_replayer_config c;
  c.outstanding = 2;
  trace_replayer rp("rp", c, timing_mode::cycle,
                    parse_ok("0 0x10 - 0x1000 64 W\n"
                             "10 0x10 - 0x2000 64 R\n"
                             "500 0x10 - 0x3000 8 R\n"));
  b.attach(rp);
  sc_start();
  ASSERT_TRUE(rp.finished());
  const auto &res = rp.results();
  ASSERT_EQ(res.size(), 3u);
  EXPECT_EQ(res[0].line, 1u);
  EXPECT_EQ(res[1].line, 2u);
  EXPECT_EQ(res[0].issue_cycle, 0u);
  EXPECT_EQ(res[1].issue_cycle, 10u);   // one slot: 58, after line 1's completion
  EXPECT_EQ(res[2].issue_cycle, 510u);
  EXPECT_EQ(res[0].latency_cycles, 58u);
  EXPECT_GE(res[1].latency_cycles, 107u);  // at least its latency alone
  for (const auto &r : res) EXPECT_TRUE(r.ok) << r.line;
  EXPECT_EQ(rp.stats().get("transactions"), 3u);
  trace_replayer_config bad;
  bad.outstanding = 0;
  EXPECT_EQ(bad.check(), "trace replayer outstanding must be 1 .. 1024");
}

TEST(TraceReplayer, AtsLineTranslatesThenAccessesTranslated) {
  path_bench b(timing_mode::cycle);
  trace_replayer rp("rp", {}, timing_mode::cycle, parse_ok("0 0x10 - 0x3010 16 W ats\n"));
  b.attach(rp);
  sc_start();
  ASSERT_EQ(rp.results().size(), 1u);
  const auto &r = rp.results()[0];
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.translated_addr, kUser + 0x3010);
  EXPECT_EQ(r.latency_cycles, 5u + (5 + 1 + 50 + 1));
  ASSERT_EQ(b.iommu.log.size(), 2u);
  EXPECT_EQ(b.iommu.log[0].at, at_kind::translation_request);
  EXPECT_EQ(b.iommu.log[0].addr, 0x3000u);
  EXPECT_EQ(b.iommu.log[0].len, 0u);
  EXPECT_FALSE(b.iommu.log[0].no_write);  // a write wants W
  EXPECT_EQ(b.iommu.log[1].at, at_kind::translated);
  EXPECT_EQ(b.iommu.log[1].addr, kUser + 0x3010);
  EXPECT_EQ(b.user[0x3010], 1);  // line 1's first byte
  EXPECT_EQ(rp.stats().get("translation_requests"), 1u);
}

// Unmapped pages: a pri line raises a page request and retries; a line
// without pri fails; stop_on_error ends the replay there.
TEST(TraceReplayer, PriLinesRetryAfterThePageResponse) {
  path_bench b(timing_mode::cycle);
  b.iommu.pages.clear();
  b.iommu.map(0x1000, 0x1000);
  trace_replayer_config c;
  c.stop_on_error = true;
  trace_replayer rp("rp", c, timing_mode::cycle,
                    parse_ok("0 0x10 - 0x8000 8 R pri\n"
                             "0 0x10 - 0x9000 8 W pri ats\n"
                             "0 0x10 - 0xa000 8 R\n"
                             "0 0x10 - 0x1000 8 R\n"));
  b.attach(rp);
  sc_start();
  const auto &res = rp.results();
  ASSERT_EQ(res.size(), 3u);  // stopped at line 3
  EXPECT_TRUE(res[0].ok);
  EXPECT_EQ(res[0].page_requests, 1u);
  EXPECT_EQ(res[0].latency_cycles, 5u + 20 + (5 + 1 + 100 + 1));
  EXPECT_TRUE(res[1].ok);
  EXPECT_EQ(res[1].page_requests, 1u);
  EXPECT_EQ(res[1].latency_cycles, 5u + 20 + 5 + (5 + 1 + 50 + 1));  // TR, PR, TR, access
  EXPECT_FALSE(res[2].ok);
  EXPECT_EQ(res[2].status, iommu_status::fault);
  EXPECT_EQ(res[2].fault_cls, fault_class::translation);
  ASSERT_EQ(b.iommu.page_requests.size(), 2u);
  EXPECT_EQ(b.iommu.page_requests[0].req.addr, 0x8000u);
  EXPECT_TRUE(b.iommu.page_requests[0].req.read);
  EXPECT_EQ(b.iommu.page_requests[1].req.addr, 0x9000u);
  EXPECT_TRUE(b.iommu.page_requests[1].req.write);
  EXPECT_NE(b.iommu.page_requests[0].req.grpid, b.iommu.page_requests[1].req.grpid);
  EXPECT_EQ(rp.stats().get("errors"), 1u);
  EXPECT_EQ(rp.stats().get("page_requests"), 2u);
}

}  // namespace
