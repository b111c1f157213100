// SPDX-License-Identifier: MIT
// Queued invalidation (VT-d §6.5.2): every descriptor type's effect, the wait
// descriptor's status write and interrupt, and the queue errors IQE (with
// IQERCD.IQEI and IQH left on the bad descriptor), ITE and ICE.
#include "vtd_test_util.h"

using namespace vtd_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;

// Scalable device 0x0100: PASID 0 second stage (domain 1), PASID 1 first
// stage (domain 2).
struct two_domains {
  uint64_t dir = 0, s2_leaf = 0, s1_leaf = 0;
  std::unique_ptr<page_table> s2, s1;
  explicit two_domains(harness &tb) {
    tb.setup(true);
    dir = tb.alloc.alloc(4096);
    tb.sm_context(0x0100, dir);
    s2 = std::make_unique<page_table>(tb.mem, tb.alloc, 4, ss::table);
    s2_leaf = s2->map(0x1000, kData, ss::R | ss::W);
    s1 = std::make_unique<page_table>(tb.mem, tb.alloc, 4, fs::table);
    s1_leaf = s1->map(0x1000, kData + 0x1000, fs::P | fs::RW | fs::US | fs::A | fs::D);
    harness::pasid_fields f;
    f.pgtt = 2;
    f.slptptr = s2->root;
    f.did = 1;
    tb.pasid_entry(dir, 0, f);
    f.pgtt = 1;
    f.fsptptr = s1->root;
    f.did = 2;
    tb.pasid_entry(dir, 1, f);
  }
};

dma_result pasid_read(harness &tb, uint32_t pasid, uint64_t addr) {
  dma_args a;
  a.pv = true;
  a.pasid = pasid;
  return tb.dma(addr, a);
}

TEST(vtd_qi, iotlb_and_piotlb_invalidations) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    two_domains d(tb);
    EXPECT_EQ(tb.read(0x0100, 0x1000).ext.output_addr, kData);
    EXPECT_EQ(pasid_read(tb, 1, 0x1000).ext.output_addr, kData + 0x1000);
    // Remap both; cached translations stay until invalidated.
    tb.mem.write64(d.s2_leaf, (kData + 0x8000) | ss::R | ss::W);
    tb.mem.write64(d.s1_leaf, (kData + 0x9000) | fs::P | fs::RW | fs::US | fs::A | fs::D);
    EXPECT_EQ(tb.read(0x0100, 0x1000).ext.output_addr, kData);
    EXPECT_EQ(pasid_read(tb, 1, 0x1000).ext.output_addr, kData + 0x1000);
    // IOTLB page-selective for domain 1 leaves domain 2's first-stage entry.
    tb.flush({desc::iotlb(3, 1, 0x1000, 0)});
    EXPECT_EQ(tb.read(0x0100, 0x1000).ext.output_addr, kData + 0x8000);
    EXPECT_EQ(pasid_read(tb, 1, 0x1000).ext.output_addr, kData + 0x1000);
    // PASID-based IOTLB, non-globals of PASID 1 in domain 2.
    tb.flush({desc::piotlb(2, 2, 1)});
    EXPECT_EQ(pasid_read(tb, 1, 0x1000).ext.output_addr, kData + 0x9000);
    EXPECT_EQ(tb.counter("qi", "iotlb_inv"), 1u);
    EXPECT_EQ(tb.counter("qi", "piotlb_inv"), 1u);
    EXPECT_EQ(tb.counter("qi", "wait"), 2u);
    // Global IOTLB invalidation empties the IOTLB.
    tb.flush({desc::iotlb(1)});
    EXPECT_EQ(tb.counter("iotlb", "invalidation"), 2u + 2u);
    // A page-selective PASID-based invalidation with AM beyond MAMV is invalid.
    tb.submit_wait({desc::piotlb(3, 2, 1, 0, 19)});
    EXPECT_EQ(tb.reg(r::FSTS) & 0x10, 0x10u);
    EXPECT_EQ(tb.reg(r::IQERCD, 8) & 0xf, 3u);
  });
}

// §6.5.2.3: a page-selective IOTLB descriptor whose address mask exceeds
// CAP.MAMV (18 by default) is an invalid descriptor: IQE, nothing flushed.
TEST(vtd_qi, iotlb_mask_beyond_mamv_is_invalid) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    two_domains d(tb);
    EXPECT_EQ(tb.read(0x0100, 0x1000).ext.output_addr, kData);
    tb.mem.write64(d.s2_leaf, (kData + 0x8000) | ss::R | ss::W);
    tb.submit_wait({desc::iotlb(3, 1, 0, cfg.cap.mamv + 1)});
    EXPECT_EQ(tb.reg(r::FSTS) & 0x10, 0x10u);
    EXPECT_EQ(tb.reg(r::IQERCD, 8) & 0xf, 3u);
    EXPECT_EQ(tb.counter("qi", "iotlb_inv"), 0u);
    EXPECT_EQ(tb.read(0x0100, 0x1000).ext.output_addr, kData);  // still the cached entry
  });
}

TEST(vtd_qi, context_and_pasid_cache_invalidations) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    two_domains d(tb);
    tb.read(0x0100, 0x1000);
    pasid_read(tb, 1, 0x1000);
    EXPECT_EQ(tb.counter("", "context_entry_reads"), 1u);
    EXPECT_EQ(tb.counter("", "pasid_entry_reads"), 2u);
    // Device-selective context-cache invalidation: the next request re-reads.
    tb.flush({desc::cc(3, 0, 0x0100)});
    tb.read(0x0100, 0x1000);
    EXPECT_EQ(tb.counter("", "context_entry_reads"), 2u);
    // PASID-selective PASID-cache invalidation (domain 2, PASID 1) re-reads only that one.
    tb.flush({desc::pc(1, 2, 1)});
    tb.read(0x0100, 0x1000);
    pasid_read(tb, 1, 0x1000);
    EXPECT_EQ(tb.counter("", "pasid_entry_reads"), 3u);
    // Domain-selective (domain 1) then global.
    tb.flush({desc::pc(0, 1)});
    tb.read(0x0100, 0x1000);
    EXPECT_EQ(tb.counter("", "pasid_entry_reads"), 4u);
    tb.flush({desc::pc(3, 0), desc::cc(1)});
    tb.read(0x0100, 0x1000);
    pasid_read(tb, 1, 0x1000);
    EXPECT_EQ(tb.counter("", "pasid_entry_reads"), 6u);
    EXPECT_EQ(tb.counter("", "context_entry_reads"), 3u);
    // Interrupt-entry cache: accepted (nothing cached).
    tb.flush({desc::iec()});
    EXPECT_EQ(tb.counter("qi", "iec_inv"), 1u);
    EXPECT_EQ(tb.counter("qi", "context_cache_inv"), 2u);
    EXPECT_EQ(tb.counter("qi", "pasid_cache_inv"), 3u);
  });
}

TEST(vtd_qi, wait_status_write_and_interrupt) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    tb.set_reg(r::IEDATA, 0x51);
    tb.set_reg(r::IEADDR, 0xfee0'2000);
    tb.set_reg(r::IECTL, 0);
    // SW and IF: the status dword, then ICS.IWC and the interrupt message.
    tb.submit_wait({desc::wait(true, true, 0xdead'beef, tb.status_word)});
    EXPECT_EQ(tb.mem.read32(tb.status_word), 0xdead'beefu);
    ASSERT_GE(tb.mem.writes.size(), 2u);
    const auto &w = tb.mem.writes;
    EXPECT_EQ(w[w.size() - 2].addr, tb.status_word);
    EXPECT_EQ(w[w.size() - 1].addr, 0xfee0'2000u);
    EXPECT_EQ(w[w.size() - 1].value, 0x51u);
    EXPECT_EQ(tb.reg(r::ICS), 1u);
    // IWC still set: a second IF wait is no new interrupt condition.
    const size_t n = w.size();
    tb.submit_wait({desc::wait(false, true)});
    EXPECT_EQ(w.size(), n);
    tb.set_reg(r::ICS, 1);
    EXPECT_EQ(tb.reg(r::ICS), 0u);
    // Masked: IP pending until IM is cleared.
    tb.set_reg(r::IECTL, 0x8000'0000u);
    tb.submit_wait({desc::wait(false, true)});
    EXPECT_EQ(tb.reg(r::IECTL), 0xc000'0000u);
    EXPECT_EQ(w.size(), n);
    tb.set_reg(r::IECTL, 0);
    ASSERT_EQ(w.size(), n + 1);
    EXPECT_EQ(w.back().addr, 0xfee0'2000u);
    // Wired line with IEADDR 0.
    tb.set_reg(r::ICS, 1);
    tb.set_reg(r::IEADDR, 0);
    tb.irqs.clear();
    tb.submit_wait({desc::wait(false, true)});
    ASSERT_EQ(tb.irqs.size(), 2u);
    EXPECT_EQ(tb.irqs[0], std::make_pair(2u, true));
  });
}

TEST(vtd_qi, device_tlb_invalidations_and_ite_ice) {
  vtd_config cfg;
  cfg.dev_tlb_timeout = 1000;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    tb.iommu.bind_endpoint(0x0100, &tb.ep);
    // Device-TLB: S = 1 with address bits 12..13 set: 2^(13+2) = 32 KiB.
    tb.flush({desc::dev_tlb(0x0100, 0x1'0000'3000ull, true)});
    ASSERT_EQ(tb.ep.invalidations.size(), 1u);
    auto inv = tb.ep.invalidations[0];
    EXPECT_EQ(inv.stream_id, 0x0100u);
    EXPECT_EQ(inv.addr, 0x1'0000'0000ull);
    EXPECT_EQ(inv.size_log2, 15u);
    EXPECT_FALSE(inv.ssid_valid);
    EXPECT_EQ(tb.counter("qi", "dev_tlb_inv_completions"), 1u);
    // PASID-based, one page, then global (all PASIDs).
    tb.flush({desc::pdev_tlb(0x0100, 7, 0x5000), desc::pdev_tlb(0x0100, 7, 0, false, true)});
    ASSERT_EQ(tb.ep.invalidations.size(), 3u);
    inv = tb.ep.invalidations[1];
    EXPECT_TRUE(inv.ssid_valid);
    EXPECT_EQ(inv.ssid, 7u);
    EXPECT_EQ(inv.addr, 0x5000u);
    EXPECT_EQ(inv.size_log2, 12u);
    EXPECT_FALSE(inv.global);
    EXPECT_TRUE(tb.ep.invalidations[2].global);
    // The wait waited for the completions: the status write is after them.
    EXPECT_EQ(tb.counter("qi", "dev_tlb_inv_completions"), 3u);
    // ITE: no completion within dev_tlb_timeout cycles.
    tb.ep.atc_never = true;
    tb.set_reg(r::FEADDR, 0);
    tb.set_reg(r::FECTL, 0);
    tb.irqs.clear();
    const uint64_t head = tb.reg(r::IQH, 8);
    tb.submit_wait({desc::dev_tlb(0x0100, 0x9000), desc::wait(true, false, 2, tb.status_word)},
                   100'000);
    EXPECT_EQ(tb.reg(r::FSTS), 0x40u) << "ITE";
    EXPECT_EQ((tb.reg(r::IQERCD, 8) >> 32) & 0xffff, 0x0100u) << "ITESID";
    EXPECT_EQ(tb.reg(r::IQH, 8), head + 64) << "past the aborted wait";
    EXPECT_NE(tb.mem.read32(tb.status_word), 2u) << "aborted: no status write";
    EXPECT_EQ(tb.irqs.size(), 2u) << "fault event";
    // The queue stays stopped until ITE is cleared, then runs on.
    tb.submit({desc::wait(true, false, 3, tb.status_word)});
    wait(sc_time(1, sc_core::SC_US));
    EXPECT_EQ(tb.reg(r::IQH, 8), head + 64);
    tb.set_reg(r::FSTS, 0x40);
    wait(sc_time(1, sc_core::SC_US));
    EXPECT_EQ(tb.mem.read32(tb.status_word), 3u);
    EXPECT_EQ(tb.reg(r::IQH, 8), tb.iqt);
    // ICE: a completion with an ITag nobody is waiting for.
    tb.ep.atc_never = false;
    tb.ep.itag_offset = 5;
    tb.submit_wait({desc::dev_tlb(0x0100, 0xa000)});
    wait(sc_time(100, SC_NS));  // the endpoint answers after atc_delay
    EXPECT_EQ(tb.reg(r::FSTS) & 0x20, 0x20u) << "ICE";
    EXPECT_EQ(tb.reg(r::IQERCD, 8) >> 48, 0x0100u) << "ICESID";
  });
}

TEST(vtd_qi, queue_errors_iqe) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    tb.set_reg(r::FEDATA, 0x77);
    tb.set_reg(r::FEADDR, 0xfee0'3000);
    tb.set_reg(r::FECTL, 0);
    // An unknown type (10) after a good descriptor: IQH stops on it.
    tb.submit_wait({desc::iec(), desc::make(0xa)});
    EXPECT_EQ(tb.reg(r::FSTS), 0x10u) << "IQE";
    EXPECT_EQ(tb.reg(r::IQERCD, 8) & 0xf, 3u) << "IQEI: invalid descriptor";
    EXPECT_EQ(tb.reg(r::IQH, 8), 32u);
    wait(sc_time(100, SC_NS));  // the fault event message follows the status
    ASSERT_FALSE(tb.mem.writes.empty());
    EXPECT_EQ(tb.mem.writes.back().addr, 0xfee0'3000u) << "fault event";
    EXPECT_EQ(tb.mem.writes.back().value, 0x77u);
    // Software fixes the descriptor and clears IQE: the queue runs on.
    tb.mem.write(tb.iq + 32, desc::iec().q, 32);
    tb.set_reg(r::FSTS, 0x10);
    wait(sc_time(1, sc_core::SC_US));
    EXPECT_EQ(tb.reg(r::IQH, 8), 64u);
    EXPECT_EQ(tb.counter("qi", "iec_inv"), 2u);
    // Invalid granularity (IOTLB G = 0) and a descriptor fetch error.
    tb.submit_wait({desc::iotlb(0)});
    EXPECT_EQ(tb.reg(r::IQERCD, 8) & 0xf, 3u);
    tb.mem.write(tb.iq + 64, desc::iec().q, 32);
    tb.set_reg(r::FSTS, 0x10);
    wait(sc_time(1, sc_core::SC_US));
    tb.mem.fail_range(tb.iq + 96, tb.iq + 128);
    tb.submit_wait({desc::iec()});
    EXPECT_EQ(tb.reg(r::FSTS), 0x10u);
    EXPECT_EQ(tb.reg(r::IQERCD, 8) & 0xf, 2u) << "IQEI: fetch error";
    EXPECT_EQ(tb.reg(r::IQH, 8), 96u);
    EXPECT_EQ(tb.counter("qi", "iqe"), 3u);
  });
}

TEST(vtd_qi, legacy_128_bit_descriptors_and_tail_alignment) {
  vtd_config cfg;
  cfg.ecap.smts = false;  // 128-bit descriptors
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(false);
    tb.flush({desc::iotlb(1), desc::cc(1)});
    EXPECT_EQ(tb.reg(r::IQH, 8), 48u) << "three 16-byte descriptors (with the wait)";
  });
}

// With 256-bit descriptors, an IQT not 32-byte aligned is IQEI 1.

TEST(vtd_qi, tail_misaligned_for_256_bit_descriptors) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    tb.set_reg(r::IQT, 0x10, 8);
    wait(sc_time(1, sc_core::SC_US));
    EXPECT_EQ(tb.reg(r::FSTS), 0x10u);
    EXPECT_EQ(tb.reg(r::IQERCD, 8) & 0xf, 1u);
    // A tail beyond the queue (4 KiB here) is no tail either: IQE, not a
    // queue that never drains.
    tb.set_reg(r::IQT, 0x1000, 8);
    tb.set_reg(r::FSTS, 0x10);
    wait(sc_time(1, sc_core::SC_US));
    EXPECT_EQ(tb.reg(r::FSTS), 0x10u);
    EXPECT_EQ(tb.reg(r::IQH, 8), 0u);
    EXPECT_EQ(tb.counter("qi", "descriptors"), 0u);
  });
}

}  // namespace
