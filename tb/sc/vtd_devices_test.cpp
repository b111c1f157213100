// SPDX-License-Identifier: MIT
// The VT-d model with the project's ATS endpoint (models/devices): the
// endpoint's ATC misses, asks for a translation (AT = 01b), fills, sends the
// translated write; a queued device-TLB invalidation empties its ATC and the
// wait descriptor completes only after the endpoint's completion.
#include "models/devices/ats_endpoint.h"
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

}  // namespace
