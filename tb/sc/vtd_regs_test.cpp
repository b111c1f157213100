// SPDX-License-Identifier: MIT
// The register file (VT-d §11.4): VER/CAP/ECAP from the config, read-only
// and RW1C behaviour, GCMD -> GSTS handshakes, RTADDR latching by SRTP,
// 64-bit registers written as 32-bit halves, register-based invalidation
// (CCMD, IOTLB_REG) and bad accesses.
#include "vtd_test_util.h"

using namespace vtd_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;

uint64_t b(unsigned n) { return 1ull << n; }

TEST(vtd_regs, capabilities_from_config) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    EXPECT_EQ(tb.reg(r::VER), 0x60u);
    // CAP (§11.4.2): ND 2:0, SAGAW 12:8, MGAW 21:16, ZLR 22, FRO 33:24,
    // SLLPS 37:34, PSI 39, NFR 47:40, MAMV 53:48, DWD 54, DRD 55, FS1GP 56, FS5LP 60.
    const uint64_t cap = 6 | (0b01110ull << 8) | (56ull << 16) | b(22) | (0x60ull << 24) |
                         (3ull << 34) | b(39) | (7ull << 40) | (18ull << 48) | b(54) | b(55) |
                         b(56) | b(60);
    EXPECT_EQ(tb.reg(r::CAP, 8), cap);
    // ECAP (§11.4.3): C 0, QI 1, DT 2, PT 6, SC 7, IRO 17:8, MHMV 23:20, NEST 26,
    // PRS 29, SRS 31, NWFS 33, PSS 39:35, PASID 40, PDS 42, SMTS 43, SSADS 45,
    // SSTS 46, FSTS 47, SMPWCS 48.
    const uint64_t ecap = b(0) | b(1) | b(2) | b(6) | b(7) | (0x50ull << 8) | (15ull << 20) |
                          b(26) | b(29) | b(31) | b(33) | (19ull << 35) | b(40) | b(42) | b(43) |
                          b(45) | b(46) | b(47) | b(48);
    EXPECT_EQ(tb.reg(r::ECAP, 8), ecap);
    EXPECT_EQ(tb.reg(r::ECAP + 4), ecap >> 32);
    // Read only.
    tb.set_reg(r::CAP, 0, 8);
    tb.set_reg(r::VER, 0x10);
    EXPECT_EQ(tb.reg(r::CAP, 8), cap);
    EXPECT_EQ(tb.reg(r::VER), 0x60u);
    // Reset values: event interrupts masked.
    EXPECT_EQ(tb.reg(r::FECTL), 0x8000'0000u);
    EXPECT_EQ(tb.reg(r::IECTL), 0x8000'0000u);
    EXPECT_EQ(tb.reg(r::PECTL), 0x8000'0000u);
    EXPECT_EQ(tb.reg(r::GSTS), 0u);
    EXPECT_EQ(tb.reg(r::FSTS), 0u);
  });
}

TEST(vtd_regs, capabilities_follow_the_config) {
  vtd_config cfg;
  cfg.cap.sagaw = 0b00100;
  cfg.cap.mgaw = 48;
  cfg.cap.nfr = 4;
  cfg.cap.fro = 0x400;
  cfg.cap.fl5lp = false;
  cfg.ecap.smts = false;
  cfg.ecap.pss = 9;
  cfg.ecap.iro = 0x300;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    const uint64_t cap = tb.reg(r::CAP, 8);
    EXPECT_EQ((cap >> 8) & 0x1f, 0b00100u);
    EXPECT_EQ((cap >> 16) & 0x3f, 47u);
    EXPECT_EQ((cap >> 40) & 0xff, 3u);
    EXPECT_EQ(((cap >> 24) & 0x3ff) * 16, 0x400u);
    EXPECT_EQ((cap >> 60) & 1, 0u);
    const uint64_t ecap = tb.reg(r::ECAP, 8);
    EXPECT_EQ((ecap >> 43) & 1, 0u);
    EXPECT_EQ((ecap >> 35) & 0x1f, 9u);
    EXPECT_EQ(((ecap >> 8) & 0x3ff) * 16, 0x300u);
  });
  vtd_config bad;
  bad.cap.fro = 0x508;
  EXPECT_FALSE(bad.check().empty());
  bad = vtd_config();
  bad.ecap.iro = 0x600;  // on the fault recording registers
  EXPECT_NE(bad.check().find("overlap"), std::string::npos);
  bad = vtd_config();
  bad.iotlb.ways = 3;
  EXPECT_FALSE(bad.check().empty());
  EXPECT_EQ(vtd_config().check(), "");
}

TEST(vtd_regs, gcmd_gsts_handshakes) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    const uint64_t rt = 0x8010'0000;
    tb.set_reg(r::RTADDR, rt | (1ull << 10), 8);
    EXPECT_EQ(tb.reg(r::RTADDR, 8), rt | (1ull << 10));
    EXPECT_EQ(tb.reg(r::GSTS), 0u) << "RTADDR takes effect only at SRTP";
    tb.set_reg(r::GCMD, r::SRTP);
    EXPECT_EQ(tb.reg(r::GSTS), uint64_t{r::SRTP}) << "RTPS";
    EXPECT_EQ(tb.reg(r::GCMD), 0u) << "GCMD is write only";
    // WBF completes at once: WBFS reads 0.
    tb.set_reg(r::GCMD, r::WBF);
    EXPECT_EQ(tb.reg(r::GSTS) & r::WBF, 0u);
    // QIE: IQH restarts at 0.
    tb.set_reg(r::IQA, 0x8020'0000 | (1ull << 11), 8);
    tb.set_reg(r::GCMD, r::QIE);
    EXPECT_EQ(tb.reg(r::GSTS) & (r::QIE | r::TE), uint64_t{r::QIE});
    tb.set_reg(r::GCMD, r::QIE | r::TE);
    EXPECT_EQ(tb.reg(r::GSTS) & (r::QIE | r::TE), uint64_t{r::QIE | r::TE});
    tb.set_reg(r::GCMD, r::QIE | r::CFI);
    EXPECT_EQ(tb.reg(r::GSTS) & (r::QIE | r::TE | r::CFI), uint64_t{r::QIE | r::CFI});
    // IRE is not implemented (ECAP.IR = 0): its status stays clear.
    tb.set_reg(r::GCMD, r::QIE | r::IRE);
    EXPECT_EQ(tb.reg(r::GSTS) & (r::QIE | r::IRE), uint64_t{r::QIE});
    EXPECT_EQ(tb.counter("", "root_table_latched"), 1u);
  });
}

TEST(vtd_regs, halves_rw1c_and_bad_accesses) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    // A 64-bit register written as two 32-bit halves.
    tb.set_reg(r::IQA, 0x8030'0000 | 3);
    tb.set_reg(r::IQA + 4, 0x12);
    EXPECT_EQ(tb.reg(r::IQA, 8), 0x12'8030'0003ull);
    // IQH is read only.
    tb.set_reg(r::IQH, 0x40, 8);
    EXPECT_EQ(tb.reg(r::IQH, 8), 0u);
    // FSTS: PPF cannot be written; RW1C bits that are clear stay clear.
    tb.set_reg(r::FSTS, 0xffff'ffff);
    EXPECT_EQ(tb.reg(r::FSTS), 0u);
    tb.set_reg(r::FEDATA, 0x4021);
    tb.set_reg(r::FEADDR, 0xfee0'0003);
    tb.set_reg(r::FEUADDR, 0x1);
    EXPECT_EQ(tb.reg(r::FEDATA), 0x4021u);
    EXPECT_EQ(tb.reg(r::FEADDR), 0xfee0'0000u) << "dword aligned";
    EXPECT_EQ(tb.reg(r::FEUADDR), 1u);
    tb.set_reg(r::FECTL, 0);
    EXPECT_EQ(tb.reg(r::FECTL), 0u);
    tb.set_reg(r::PMEN, 0x8000'0000);
    EXPECT_EQ(tb.reg(r::PMEN), 0x8000'0001u) << "PRS follows EPM";
    // Bad accesses: size 2, misaligned, beyond the page.
    for (auto [off, len] : {std::pair<uint64_t, unsigned>{r::GSTS, 2}, {0x1a, 4}, {0x1000, 4}, {0x24, 8}}) {
      tlm::tlm_generic_payload tr;
      uint64_t v = 0;
      tr.set_command(tlm::TLM_READ_COMMAND);
      tr.set_address(off);
      tr.set_data_ptr(reinterpret_cast<unsigned char *>(&v));
      tr.set_data_length(len);
      tr.set_streaming_width(len);
      sc_time d = SC_ZERO_TIME;
      tb.reg_port->b_transport(tr, d);
      EXPECT_EQ(tr.get_response_status(), tlm::TLM_GENERIC_ERROR_RESPONSE) << off << "/" << len;
    }
  });
}

TEST(vtd_regs, register_based_invalidation) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(false, true, false);  // no queued invalidation
    page_table a(tb.mem, tb.alloc, 4, ss::table), c(tb.mem, tb.alloc, 4, ss::table);
    a.map(0x1000, kData, ss::R | ss::W);
    c.map(0x1000, kData + 0x8000, ss::R | ss::W);
    tb.legacy_context(0x0100, 0, 2, a.root, 1);
    EXPECT_EQ(tb.read(0x0100, 0x1000).ext.output_addr, kData);
    // Point the context at another table and domain: cached until invalidated.
    tb.legacy_context(0x0100, 0, 2, c.root, 2);
    EXPECT_EQ(tb.read(0x0100, 0x1000).ext.output_addr, kData);
    // CCMD device-selective (CIRG 3, SID): ICC clears, CAIG reports 3.
    const uint64_t ccmd = (1ull << 63) | (3ull << 61) | (0x0100ull << 16) | 1;
    tb.set_reg(r::CCMD, ccmd, 8);
    EXPECT_EQ(tb.reg(r::CCMD, 8), (3ull << 61) | (3ull << 59) | (0x0100ull << 16) | 1);
    EXPECT_EQ(tb.read(0x0100, 0x1000).ext.output_addr, kData + 0x8000) << "new domain 2";
    // Remap domain 2's page; the IOTLB keeps the old one until IOTLB_REG.
    c.map(0x1000, kData + 0x9000, ss::R | ss::W);
    EXPECT_EQ(tb.read(0x0100, 0x1000).ext.output_addr, kData + 0x8000);
    const uint32_t iro = 0x500;
    tb.set_reg(iro, 0x1000, 8);  // IVA: page 0x1000, AM 0
    // Written as halves: the low half alone does nothing; the high half with IVT does it.
    const uint64_t cmd = (1ull << 63) | (3ull << 60) | (2ull << 32);
    tb.set_reg(iro + 8, cmd & 0xffff'ffff);
    tb.set_reg(iro + 12, cmd >> 32);
    EXPECT_EQ(tb.reg(iro + 8, 8), (3ull << 60) | (3ull << 57) | (2ull << 32)) << "IVT clear, IAIG page";
    EXPECT_EQ(tb.read(0x0100, 0x1000).ext.output_addr, kData + 0x9000);
    EXPECT_EQ(tb.counter("", "reg_context_invalidations"), 1u);
    EXPECT_EQ(tb.counter("", "reg_iotlb_invalidations"), 1u);
  });
}

}  // namespace
