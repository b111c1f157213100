// SPDX-License-Identifier: MIT
// pri_device: page request groups (last on the final request, one PRG index),
// retry after Success, Invalid Request, Response Failure stopping PRI,
// timeouts, faults that raise no request; both timing modes.
// Path timing: device_bench.h; the stand-in answers 20 cycles after the
// group's last request; issue_cycles 1.
#include <gtest/gtest.h>

#include "device_bench.h"
#include "models/devices/pri_device.h"

using namespace iommusim::models;
using iommusim::testing::kUser;
using iommusim::testing::ns;
using iommusim::testing::path_bench;
using iommusim::testing::script_thread;
using sc_core::sc_start;

namespace {

pri_device_config dev_cfg(unsigned per_group = 1) {
  pri_device_config c;
  c.stream_id = 0x40;
  c.requests_per_group = per_group;
  return c;
}

void group_test(timing_mode mode) {
  path_bench b(mode);
  b.iommu.pages.clear();
  auto c = dev_cfg(3);
  c.program = {{0, 0x9000, 64, true, true, 2, false},    // faults: group of 3 pages
               {0, 0xa000, 64, true, true, 2, false},    // mapped by that group
               {0, 0xc000, 8, false, true, 2, false}};   // faults again: a new group
  pri_device d("pri", c, mode);
  b.attach(d);
  sc_start();
  ASSERT_TRUE(d.finished());
  const auto &r = d.program_results();
  ASSERT_EQ(r.size(), 3u);
  for (const auto &x : r) EXPECT_TRUE(x.ok);
  EXPECT_EQ(r[0].groups, 1u);
  EXPECT_EQ(r[0].page_requests, 3u);
  EXPECT_EQ(r[0].cycles, 1u + 5 + 20 + (1 + 5 + 1 + 50 + 2));
  EXPECT_EQ(r[1].groups, 0u);
  EXPECT_EQ(r[1].cycles, 1u + 5 + 1 + 50 + 2);
  EXPECT_EQ(r[2].groups, 1u);
  ASSERT_EQ(b.iommu.page_requests.size(), 6u);
  const uint64_t pages[6] = {0x9000, 0xa000, 0xb000, 0xc000, 0xd000, 0xe000};
  for (unsigned i = 0; i < 6; i++) {
    const page_request &p = b.iommu.page_requests[i].req;
    EXPECT_EQ(p.addr, pages[i]);
    EXPECT_EQ(p.grpid, i / 3);
    EXPECT_EQ(p.last, i % 3 == 2) << i;
    EXPECT_TRUE(p.ssid_valid);
    EXPECT_EQ(p.ssid, 2u);
    EXPECT_EQ(p.write, i < 3);
    EXPECT_EQ(p.read, i >= 3);
    EXPECT_EQ(p.stream_id, 0x40u);
  }
  for (unsigned k = 0; k < 64; k++) EXPECT_EQ(b.user[0x9000 + k], static_cast<uint8_t>(k));
  auto &st = d.stats();
  EXPECT_EQ(st.get("page_requests"), 6u);
  EXPECT_EQ(st.get("prg_responses"), 2u);
  EXPECT_EQ(st.get("prg_success"), 2u);
  EXPECT_EQ(st.get("retries"), 2u);
  EXPECT_EQ(st.get("faults"), 2u);
}

TEST(PriDevice, GroupsRetryAfterSuccessCycleMode) { group_test(timing_mode::cycle); }
TEST(PriDevice, GroupsRetryAfterSuccessFastMode) { group_test(timing_mode::fast); }

TEST(PriDevice, InvalidRequestFailsTheAccess) {
  path_bench b(timing_mode::cycle);
  b.iommu.pages.clear();
  b.iommu.pri_code = prg_response_code::invalid_request;
  auto c = dev_cfg();
  c.program = {{0, 0x9000, 8, false, false, 0, false}};
  pri_device d("pri", c, timing_mode::cycle);
  b.attach(d);
  sc_start();
  ASSERT_EQ(d.program_results().size(), 1u);
  const auto &r = d.program_results()[0];
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.pri, pri_agent::outcome::invalid_request);
  EXPECT_EQ(r.fault_cls, fault_class::translation);
  EXPECT_EQ(r.cycles, 1u + 5 + 20);
  EXPECT_FALSE(d.pri_stopped());
  EXPECT_EQ(d.stats().get("prg_invalid"), 1u);
}

// Response Failure: the function stops PRI (PCIe 6.0 §10.4.2.1) until
// software restarts it; a fault meanwhile raises no request.
TEST(PriDevice, ResponseFailureStopsPriUntilRestart) {
  path_bench b(timing_mode::cycle);
  b.iommu.pages.clear();
  b.iommu.pri_code = prg_response_code::response_failure;
  pri_device d("pri", dev_cfg(), timing_mode::cycle);
  b.attach(d);
  script_thread drv("drv");
  std::vector<pri_device::result> res;
  drv.body = [&] {
    thread_time t(d.clock());
    uint8_t buf[8] = {};
    res.push_back(d.access(t, {0, 0x9000, 8, false, false, 0, false}, buf));
    res.push_back(d.access(t, {0, 0x9000, 8, false, false, 0, false}, buf));
    d.restart_pri();
    b.iommu.pri_code = prg_response_code::success;
    res.push_back(d.access(t, {0, 0x9000, 8, false, false, 0, false}, buf));
  };
  sc_start();
  ASSERT_EQ(res.size(), 3u);
  EXPECT_FALSE(res[0].ok);
  EXPECT_EQ(res[0].pri, pri_agent::outcome::response_failure);
  EXPECT_FALSE(res[1].ok);
  EXPECT_EQ(res[1].page_requests, 0u);
  EXPECT_EQ(res[1].pri, pri_agent::outcome::unavailable);
  EXPECT_TRUE(res[2].ok);
  EXPECT_EQ(b.iommu.page_requests.size(), 2u);
  EXPECT_EQ(b.iommu.page_requests[1].req.grpid, 1u);
}

TEST(PriDevice, TimeoutAndBoundedRetries) {
  path_bench b(timing_mode::cycle);
  b.iommu.pages.clear();
  b.iommu.pri_respond = false;
  auto c = dev_cfg();
  c.response_timeout_cycles = 500;
  pri_device d("pri", c, timing_mode::cycle);
  b.attach(d);
  script_thread drv("drv");
  std::vector<pri_device::result> res;
  drv.body = [&] {
    thread_time t(d.clock());
    uint8_t buf[8] = {};
    res.push_back(d.access(t, {0, 0x9000, 8, false, false, 0, false}, buf));
    // Success that never maps the page: max_retries groups, then give up.
    b.iommu.pri_respond = true;
    b.iommu.pri_maps = false;
    res.push_back(d.access(t, {0, 0xa000, 8, false, false, 0, false}, buf));
  };
  sc_start();
  ASSERT_EQ(res.size(), 2u);
  EXPECT_FALSE(res[0].ok);
  EXPECT_EQ(res[0].pri, pri_agent::outcome::timeout);
  EXPECT_EQ(res[0].cycles, 1u + 5 + 500);
  EXPECT_FALSE(res[1].ok);
  EXPECT_EQ(res[1].groups, 4u);
  EXPECT_EQ(res[1].cycles, 5u * (1 + 5) + 4 * 20);
  EXPECT_EQ(d.stats().get("prg_timeouts"), 1u);
  EXPECT_EQ(d.stats().get("errors"), 2u);
}

TEST(PriDevice, PermissionFaultRaisesNoRequest) {
  path_bench b(timing_mode::cycle);
  b.iommu.pages.clear();
  b.iommu.map(0x9000, 0x1000, {true, false});
  auto c = dev_cfg();
  c.program = {{0, 0x9000, 8, true, false, 0, true}};
  pri_device d("pri", c, timing_mode::cycle);
  b.attach(d);
  sc_start();
  ASSERT_EQ(d.program_results().size(), 1u);
  EXPECT_FALSE(d.program_results()[0].ok);
  EXPECT_EQ(d.program_results()[0].fault_cls, fault_class::permission);
  EXPECT_TRUE(b.iommu.page_requests.empty());
  EXPECT_TRUE(b.iommu.log[0].privileged);
}

TEST(PriDevice, ConfigCheck) {
  EXPECT_EQ(dev_cfg().check(), "");
  auto c = dev_cfg(64);
  c.outstanding_capacity = 32;
  EXPECT_NE(c.check().find("exceeds the outstanding page request capacity"), std::string::npos);
  c = dev_cfg(0);
  EXPECT_NE(c.check().find("at least 1"), std::string::npos);
}

}  // namespace
