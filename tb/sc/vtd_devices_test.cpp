// SPDX-License-Identifier: MIT
// The VT-d model with the project's ATS endpoint (models/devices): the
// endpoint's ATC misses, asks for a translation (AT = 01b), fills, sends the
// translated write; a queued device-TLB invalidation empties its ATC and the
// wait descriptor completes only after the endpoint's completion. The
// project's PRI device against the page request queue: a first-stage fault,
// a page request, a "driver" thread that maps the page and answers with a
// page group response, the device's retry.
#include "models/devices/ats_endpoint.h"
#include "models/devices/pri_device.h"
#include "vtd_test_util.h"

using namespace vtd_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;

TEST(vtd_devices, ats_endpoint_translation_and_invalidation) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  ats_endpoint_config ec;
  ec.stream_id = 0x0200;
  ats_endpoint ep("ats", ec, timing_mode::cycle);
  ep.dma.bind(tb.iommu.upstream);
  ep.iommu_msg.bind(tb.iommu.messages);
  tb.iommu.bind_endpoint(0x0200, &ep);
  tb.run([&] {
    tb.setup(false);
    page_table pt(tb.mem, tb.alloc, 4, ss::table);
    pt.map(0x3000, kData + 0x5000, ss::R | ss::W);
    tb.legacy_context(0x0200, 1, 2, pt.root, 4);  // TT 01b: device-TLB
    thread_time tt(ep.clock());
    uint64_t v = 0x0123'4567'89ab'cdefull;
    auto r = ep.access(tt, {0, 0x3008, 8, true, false, 0}, reinterpret_cast<uint8_t *>(&v));
    tt.sync();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.translation_requests, 1u);
    EXPECT_EQ(r.translated_addr, kData + 0x5008);
    EXPECT_EQ(tb.mem.read64(kData + 0x5008), v);
    r = ep.access(tt, {0, 0x3010, 8, false, false, 0}, reinterpret_cast<uint8_t *>(&v));
    tt.sync();
    EXPECT_EQ(r.atc_hits, 1u);
    EXPECT_EQ(ep.atc().valid_count(), 1u);
    EXPECT_EQ(tb.counter("", "ats_translation_requests"), 1u);
    // Unmap, invalidate IOTLB and device-TLB, wait.
    pt.map(0x3000, 0, 0);
    tb.flush({desc::iotlb(2, 4), desc::dev_tlb(0x0200, 0x3000)});
    EXPECT_EQ(ep.atc().valid_count(), 0u);
    EXPECT_EQ(tb.counter("qi", "dev_tlb_inv_completions"), 1u);
    // The next access asks again and gets no translation.
    r = ep.access(tt, {0, 0x3010, 8, false, false, 0}, reinterpret_cast<uint8_t *>(&v));
    tt.sync();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.fault_cls, fault_class::translation);
    EXPECT_EQ(tb.reg(r::FSTS), 0u) << "an ATS translation fault is not recorded";
  });
}

TEST(vtd_devices, pri_device_page_request_round_trip) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  pri_device_config pc;
  pc.stream_id = 0x0300;
  pri_device dev("pri", pc, timing_mode::cycle);
  dev.dma.bind(tb.iommu.upstream);
  dev.iommu_msg.bind(tb.iommu.messages);
  tb.iommu.bind_endpoint(0x0300, &dev);
  tb.run([&] {
    tb.setup(true);
    const uint64_t dir = tb.alloc.alloc(4096);
    tb.sm_context(0x0300, dir);  // PRE set
    page_table s1(tb.mem, tb.alloc, 4, fs::table);
    s1.map(0x1000, kData, fs::P | fs::RW | fs::US);  // builds the tables; 0x7000 unmapped
    harness::pasid_fields f;
    f.pgtt = 1;
    f.fsptptr = s1.root;
    f.did = 6;
    tb.pasid_entry(dir, 4, f);
    // The driver: on PPR, read the descriptor, map the page, answer Success.
    bool served = false;
    uint64_t seen[2] = {0, 0};
    sc_core::sc_spawn([&] {
      while (!(tb.reg(r::PRS) & 1)) wait(sc_time(10, SC_NS));
      seen[0] = tb.mem.read64(tb.prq);
      seen[1] = tb.mem.read64(tb.prq + 8);
      s1.map(seen[1] & ~0xfffull, kData + 0x7000, fs::P | fs::RW | fs::US);
      tb.set_reg(r::PQH, 32, 8);
      tb.set_reg(r::PRS, 1);
      const uint16_t prgi = static_cast<uint16_t>((seen[1] >> 3) & 0x1ff);
      tb.flush({desc::iotlb(2, 6), desc::pgrp_resp(0x0300, prgi, 0, true, 4)});
      served = true;
    });
    thread_time tt(dev.clock());
    uint64_t v = 0xfeed'f00d;
    const auto res = dev.access(tt, {0, 0x7010, 8, true, true, 4, false}, reinterpret_cast<uint8_t *>(&v));
    tt.sync();
    EXPECT_TRUE(served);
    ASSERT_TRUE(res.ok);
    EXPECT_EQ(res.groups, 1u);
    EXPECT_EQ(tb.mem.read64(kData + 0x7010), v);
    // qw0: type 1, PP, RID 0x0300, PASID 4; qw1: WR, LPIG, the page.
    EXPECT_EQ(seen[0], 1ull | (1ull << 8) | (0x0300ull << 16) | (4ull << 32));
    EXPECT_EQ(seen[1] & ~0xff8ull, 0x7000ull | 2 | 4);
    EXPECT_EQ(tb.counter("faults", "recorded"), 1u) << "the first attempt's fault";
  });
}

}  // namespace
