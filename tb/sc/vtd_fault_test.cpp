// SPDX-License-Identifier: MIT
// Every fault reason the model raises, with the exact fault recording
// register (FRCD, §11.4.9.5) it leaves; FPD; primary fault overflow; FRI;
// the fault event as an interrupt message, masked/pending/unmasked, and as
// a wired line.
#include "vtd_test_util.h"

using namespace vtd_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;
constexpr uint64_t kBad = 0x7000'0000ull;  // a failing range for access errors

// Checks the next fault recording register, then clears its F bit (RW1C).
struct fault_checker {
  harness &tb;
  unsigned n = 0;
  void expect(const char *what, uint64_t lo, uint64_t hi) {
    SCOPED_TRACE(what);
    const unsigned i = n % tb.cfg.cap.nfr;
    const auto [flo, fhi] = tb.frcd(i);
    EXPECT_EQ(flo, lo);
    EXPECT_EQ(fhi, hi) << std::hex << "reason 0x" << ((fhi >> 32) & 0xff);
    EXPECT_EQ(tb.reg(r::FSTS), 0x2u | (i << 8)) << "PPF, FRI";
    tb.set_reg(tb.cfg.cap.fro + 16 * i + 12, 0x8000'0000u);  // clear F
    EXPECT_EQ(tb.reg(r::FSTS), 0u);
    n++;
  }
};

dma_args args(uint16_t sid, bool write = false) {
  dma_args a;
  a.sid = sid;
  a.write = write;
  return a;
}

TEST(vtd_fault, legacy_reasons) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(false);
    fault_checker fc{tb};
    page_table pt(tb.mem, tb.alloc, 4, ss::table);
    pt.map(0x1000, kData, ss::R);
    tb.legacy_context(0x0100, 0, 2, pt.root, 1);
    tb.mem.fail_range(kBad, kBad + 0x10'0000);

    auto r = tb.dma(0x1234, args(0x0500));
    EXPECT_EQ(r.ext.fault_type, 0x1);
    EXPECT_EQ(r.ext.status, iommu_status::fault);
    EXPECT_EQ(r.resp, tlm::TLM_GENERIC_ERROR_RESPONSE);
    fc.expect("root not present", 0x1000, frcd_hi(0x0500, 0x1, true));
    tb.dma(0x2000, args(0x0101, true));
    fc.expect("context not present", 0x2000, frcd_hi(0x0101, 0x2, false));
    tb.legacy_context(0x0102, 3, 2, pt.root, 1);
    tb.dma(0x1000, args(0x0102));
    fc.expect("invalid TT", 0x1000, frcd_hi(0x0102, 0x3, true));
    tb.legacy_context(0x0103, 0, 1, pt.root, 3);  // 3 levels: 39 bits
    tb.dma(1ull << 39, args(0x0103));
    fc.expect("beyond AGAW", 1ull << 39, frcd_hi(0x0103, 0x4, true));
    r = tb.dma(0x1008, args(0x0100, true));
    EXPECT_EQ(r.ext.fault_cls, fault_class::permission);
    fc.expect("write to read-only", 0x1000, frcd_hi(0x0100, 0x5, false));
    r = tb.dma(0x5000, args(0x0100));
    EXPECT_EQ(r.ext.fault_cls, fault_class::translation) << "not present, though reported as 0x6";
    fc.expect("read of a not-present page", 0x5000, frcd_hi(0x0100, 0x6, true));
    tb.legacy_context(0x0104, 0, 2, kBad, 4);  // own domain: a shared DID shares cached tables
    tb.dma(0x1000, args(0x0104));
    fc.expect("paging entry access", 0x1000, frcd_hi(0x0104, 0x7, true));
    tb.mem.write64(tb.root + 6 * 16, kBad | 1);
    tb.dma(0x1000, args(0x0600));
    fc.expect("context table access", 0x1000, frcd_hi(0x0600, 0x9, true));
    tb.mem.write64(tb.root + 7 * 16, tb.alloc.alloc(4096) | 1);
    tb.mem.write64(tb.root + 7 * 16 + 8, 1);  // reserved high qword
    tb.dma(0x1000, args(0x0700));
    fc.expect("root reserved", 0x1000, frcd_hi(0x0700, 0xa, true));
    const uint64_t ce = tb.legacy_context(0x0105, 0, 2, pt.root, 5);
    tb.mem.write64(ce, tb.mem.read64(ce) | 0x10);  // bit 4: reserved
    tb.dma(0x1000, args(0x0105));
    fc.expect("context reserved", 0x1000, frcd_hi(0x0105, 0xb, true));
    page_table bad(tb.mem, tb.alloc, 4, ss::table);
    bad.map(0x1000, 0, ss::R | ss::W | ss::PS, 4);  // PS in a PML4E
    tb.legacy_context(0x0106, 0, 2, bad.root, 6);
    tb.dma(0x1000, args(0x0106));
    fc.expect("paging entry reserved", 0x1000, frcd_hi(0x0106, 0xc, true));
    dma_args a = args(0x0100);
    a.at = at_kind::translated;
    tb.dma(0x3000, a);
    fc.expect("translated request with TT 00b", 0x3000, frcd_hi(0x0100, 0xd, true, 2));
    a = args(0x0100);
    a.pv = true;
    a.pasid = 5;
    tb.dma(0x3000, a);
    fc.expect("PASID in legacy mode", 0x3000, frcd_hi(0x0100, 0x31, true, 0, true, 5));
    // Root-table access error: last, it breaks every request.
    tb.mem.fail_range(tb.root, tb.root + 4096);
    tb.dma(0x1000, args(0x0800));
    fc.expect("root table access", 0x1000, frcd_hi(0x0800, 0x8, true));
    EXPECT_EQ(tb.counter("faults", "recorded"), 14u);
    EXPECT_EQ(tb.counter("faults", "reason_0x0d"), 1u);
    EXPECT_EQ(tb.counter("faults", "reason_0x31"), 1u);
  });
}

TEST(vtd_fault, scalable_reasons) {
  vtd_config cfg;
  cfg.ecap.ers = true;  // execute requests checked
  cfg.cap.sllps = 1;    // 2 MiB second-stage superpages only
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    fault_checker fc{tb};
    tb.mem.fail_range(kBad, kBad + 0x10'0000);
    const uint64_t dir = tb.alloc.alloc(4096);
    tb.sm_context(0x0100, dir);
    page_table s2(tb.mem, tb.alloc, 3, ss::table);
    s2.map(0x1000, kData, ss::R);
    s2.map(0x2000, kData, ss::W);
    harness::pasid_fields f;
    f.pgtt = 2;
    f.aw = 1;
    f.slptptr = s2.root;
    f.did = 1;
    tb.pasid_entry(dir, 0, f);
    page_table s1(tb.mem, tb.alloc, 4, fs::table);
    s1.map(0x1000, kData, fs::P | fs::US | fs::A | fs::D);                  // user, read-only
    s1.map(0x2000, kData, fs::P | fs::RW | fs::A | fs::D);                  // supervisor
    s1.map(0x3000, kData, fs::P | fs::RW | fs::US | fs::A | fs::D | fs::XD);
    s1.map(0x4000, kData, fs::RW | fs::US);                                 // not present
    s1.map(0x5000, kData + 0x5000, fs::P | fs::RW | fs::US);                // A/D to set
    harness::pasid_fields g;
    g.pgtt = 1;
    g.fsptptr = s1.root;
    g.did = 2;
    tb.pasid_entry(dir, 1, g);
    dma_args p = args(0x0100);
    p.pv = true;
    p.pasid = 1;
    auto hi = [](uint16_t sid, uint8_t fr, bool read, uint32_t pasid, bool priv = false,
                 bool exe = false, unsigned at = 0) {
      return frcd_hi(sid, fr, read, at, true, pasid, priv, exe);
    };

    tb.dma(0x1000, args(0x0900));
    fc.expect("SRT.2 root LP clear", 0x1000, frcd_hi(0x0900, 0x39, true));
    tb.mem.write64(tb.root + 10 * 16, tb.alloc.alloc(4096) | 1 | 0x10);
    tb.dma(0x1000, args(0x0a00));
    fc.expect("SRT.3 root reserved", 0x1000, frcd_hi(0x0a00, 0x3a, true));
    tb.mem.write64(tb.root + 11 * 16 + 8, kBad | 1);  // upper context table
    tb.dma(0x1000, args(0x0b80));
    fc.expect("SCT.1 context table access", 0x1000, frcd_hi(0x0b80, 0x40, true));
    tb.dma(0x1000, args(0x0101));
    fc.expect("SCT.2 context not present", 0x1000, frcd_hi(0x0101, 0x41, true));
    const uint64_t ce = tb.sm_context(0x0102, dir);
    tb.mem.write64(ce, tb.mem.read64(ce) | 0x20);
    tb.dma(0x1000, args(0x0102));
    fc.expect("SCT.3 context reserved", 0x1000, frcd_hi(0x0102, 0x42, true));
    tb.sm_context(0x0103, dir, 0, false);  // DTE clear
    dma_args a = args(0x0103);
    a.at = at_kind::translated;
    tb.dma(0x1000, a);
    fc.expect("SCT.5 translated request, DTE clear", 0x1000, frcd_hi(0x0103, 0x44, true, 2));
    tb.sm_context(0x0104, dir, 0, true, false);  // PASIDE clear
    a = args(0x0104);
    a.pv = true;
    a.pasid = 1;
    tb.dma(0x1000, a);
    fc.expect("SCT.6 PASID with PASIDE clear", 0x1000, hi(0x0104, 0x45, true, 1));
    tb.sm_context(0x0105, kBad);
    tb.dma(0x1000, args(0x0105));
    fc.expect("SPD.1 directory access", 0x1000, frcd_hi(0x0105, 0x50, true));
    p.pasid = 64;  // directory entry 1: absent
    tb.dma(0x1000, p);
    fc.expect("SPD.2 directory entry not present", 0x1000, hi(0x0100, 0x51, true, 64));
    tb.mem.write64(dir + 2 * 8, tb.alloc.alloc(4096) | 1 | 0x100);
    p.pasid = 128;
    tb.dma(0x1000, p);
    fc.expect("SPD.3 directory entry reserved", 0x1000, hi(0x0100, 0x52, true, 128));
    tb.mem.write64(dir + 3 * 8, kBad | 1);
    p.pasid = 192;
    tb.dma(0x1000, p);
    fc.expect("SPT.1 PASID table access", 0x1000, hi(0x0100, 0x58, true, 192));
    p.pasid = 2;
    tb.dma(0x1000, p);
    fc.expect("SPT.2 PASID entry not present", 0x1000, hi(0x0100, 0x59, true, 2));
    harness::pasid_fields h = f;
    const uint64_t pe = tb.pasid_entry(dir, 3, h);
    tb.mem.write64(pe + 24, 1);
    p.pasid = 3;
    tb.dma(0x1000, p);
    fc.expect("SPT.3 PASID entry reserved", 0x1000, hi(0x0100, 0x5a, true, 3));
    h.pgtt = 5;
    tb.pasid_entry(dir, 4, h);
    p.pasid = 4;
    tb.dma(0x1000, p);
    fc.expect("SPT.4 PGTT 101b", 0x1000, hi(0x0100, 0x5b, true, 4));
    h = g;
    h.fsptptr = kBad;
    h.did = 105;  // every table its own domain: a shared DID shares cached tables
    tb.pasid_entry(dir, 5, h);
    p.pasid = 5;
    tb.dma(0x1000, p);
    fc.expect("SFS.4 first-stage root table access", 0x1000, hi(0x0100, 0x73, true, 5));
    page_table s1lo(tb.mem, tb.alloc, 4, fs::table);
    s1lo.map(0x1000, kData, fs::P | fs::US | fs::A);
    tb.mem.write64(s1lo.slot(0x1000, 2), kBad | fs::table | fs::A);  // the PDE points at failing memory
    h.fsptptr = s1lo.root;
    h.did = 112;
    tb.pasid_entry(dir, 12, h);
    p.pasid = 12;
    tb.dma(0x1000, p);
    fc.expect("SFS.1 first-stage entry access", 0x1000, hi(0x0100, 0x70, true, 12));
    p.pasid = 0x2000;  // directory entry 128: beyond PDTS 0's 128 entries
    tb.dma(0x1000, p);
    fc.expect("SCT.7 PASID beyond the directory", 0x1000, hi(0x0100, 0x46, true, 0x2000));
    p.pasid = 1;
    tb.dma(0x4000, p);
    fc.expect("SFS.2 first-stage not present", 0x4000, hi(0x0100, 0x71, true, 1));
    page_table s1bad(tb.mem, tb.alloc, 4, fs::table);
    s1bad.map(0x1000, 0, fs::P | fs::PS, 4);
    h.fsptptr = s1bad.root;
    h.did = 106;
    tb.pasid_entry(dir, 6, h);
    p.pasid = 6;
    tb.dma(0x1000, p);
    fc.expect("SFS.3 first-stage reserved", 0x1000, hi(0x0100, 0x72, true, 6));
    h = f;
    h.slptptr = kBad;
    h.did = 107;
    tb.pasid_entry(dir, 7, h);
    p.pasid = 7;
    tb.dma(0x1000, p);
    fc.expect("SSS.4 second-stage root table access", 0x1000, hi(0x0100, 0x7b, true, 7));
    tb.dma(0x9000, args(0x0100));
    fc.expect("SSS.2 second-stage entry not present", 0x9000, frcd_hi(0x0100, 0x79, true));
    page_table s2bad(tb.mem, tb.alloc, 3, ss::table);
    s2bad.map(0x1000, 0x1000, ss::R | (5u << 3), 2);  // EMT in a non-leaf PDE... as a table
    tb.mem.write64(s2bad.slot(0x1000, 2), tb.mem.read64(s2bad.slot(0x1000, 2)) & ~ss::PS);
    h = f;
    h.slptptr = s2bad.root;
    h.did = 108;
    tb.pasid_entry(dir, 8, h);
    p.pasid = 8;
    tb.dma(0x1000, p);
    fc.expect("SSS.3 second-stage reserved", 0x1000, hi(0x0100, 0x7a, true, 8));
    page_table s2lo(tb.mem, tb.alloc, 3, ss::table);
    s2lo.map(0x1000, kData, ss::R);
    tb.mem.write64(s2lo.slot(0x1000, 2), kBad | ss::R | ss::W);  // the PDE points at failing memory
    h = f;
    h.slptptr = s2lo.root;
    h.did = 110;
    tb.pasid_entry(dir, 10, h);
    p.pasid = 10;
    tb.dma(0x1000, p);
    fc.expect("SSS.1 second-stage entry access", 0x1000, hi(0x0100, 0x78, true, 10));
    page_table s2big(tb.mem, tb.alloc, 3, ss::table);
    s2big.map(0x4000'0000, 0x4000'0000, ss::R | ss::W | ss::PS, 3);  // 1 GiB: SLLPS here has 2 MiB only
    h.slptptr = s2big.root;
    h.did = 111;
    tb.pasid_entry(dir, 11, h);
    p.pasid = 11;
    tb.dma(0x4000'0000, p);
    fc.expect("SSS.3 superpage SLLPS does not have", 0x4000'0000, hi(0x0100, 0x7a, true, 11));
    p.pasid = 1;
    tb.dma(0x0000'8000'0000'0000ull, p);
    fc.expect("SGN.1 not canonical", 0x0000'8000'0000'0000ull, hi(0x0100, 0x80, true, 1));
    tb.dma(0x2000, p);
    fc.expect("SGN.2 user request, supervisor page", 0x2000, hi(0x0100, 0x81, true, 1));
    p.priv = true;
    tb.dma(0x2000, p);
    fc.expect("SPT.6 supervisor request, SRE clear", 0x2000, hi(0x0100, 0x5d, true, 1, true));
    p.priv = false;
    p.exec = true;
    tb.dma(0x3000, p);
    fc.expect("SGN.3 execute, XD", 0x3000, hi(0x0100, 0x82, true, 1, false, true));
    p.exec = false;
    tb.dma(1ull << 39, args(0x0100));
    fc.expect("SGN.5 beyond the second-stage AGAW", 1ull << 39, frcd_hi(0x0100, 0x84, true));
    tb.dma(0x2000, args(0x0100));
    fc.expect("SGN.7 read, second-stage R clear", 0x2000, frcd_hi(0x0100, 0x86, true));
    tb.dma(0x1000, args(0x0100, true));
    fc.expect("SGN.6 write, second-stage W clear", 0x1000, frcd_hi(0x0100, 0x85, false));
    p.write = true;
    tb.dma(0x1000, p);
    fc.expect("SGN.6 write, first-stage R/W clear", 0x1000, hi(0x0100, 0x85, false, 1));
    tb.mem.fail_write_range(s1.slot(0x5000, 1) & ~0xfffull, (s1.slot(0x5000, 1) & ~0xfffull) + 4096);
    tb.dma(0x5000, p);
    fc.expect("SFS.10 first-stage A/D update", 0x5000, hi(0x0100, 0x91, false, 1));
    page_table s2ad(tb.mem, tb.alloc, 3, ss::table);
    const uint64_t leaf = s2ad.map(0x1000, kData, ss::R | ss::W);
    tb.mem.fail_write_range(leaf & ~0xfffull, (leaf & ~0xfffull) + 4096);
    h = f;
    h.slptptr = s2ad.root;
    h.ssade = true;
    h.did = 9;
    tb.pasid_entry(dir, 9, h);
    p.pasid = 9;
    tb.dma(0x1000, p);
    fc.expect("SSS.1 second-stage A/D update failed", 0x1000, hi(0x0100, 0x78, false, 9));
    // Nested: the second stage translates the first-stage tables' GPAs.
    const int64_t delta = 0x100'0000'0000ll;  // table GPAs at 2^40 and up
    page_table n1(tb.mem, tb.alloc, 4, fs::table | fs::A, delta);
    n1.map(0x1000, 0x3000, fs::P | fs::RW | fs::US | fs::A | fs::D);
    page_table n2(tb.mem, tb.alloc, 3, ss::table);  // 39-bit GPAs: the tables' GPAs are beyond
    harness::pasid_fields nf;
    nf.pgtt = 3;
    nf.aw = 1;
    nf.fsptptr = n1.root_gpa();
    nf.slptptr = n2.root;
    nf.did = 120;
    tb.pasid_entry(dir, 20, nf);
    p.pasid = 20;
    p.write = false;
    tb.dma(0x1000, p);
    fc.expect("SFS.5 first-stage table GPA beyond the second stage", 0x1000, hi(0x0100, 0x74, true, 20));
    page_table n3(tb.mem, tb.alloc, 4, ss::table);  // maps nothing yet
    nf.aw = 2;
    nf.slptptr = n3.root;
    nf.did = 121;
    tb.pasid_entry(dir, 21, nf);
    p.pasid = 21;
    tb.dma(0x1000, p);
    fc.expect("SFS.6 first-stage root table not readable", 0x1000, hi(0x0100, 0x75, true, 21));
    n3.map(n1.root_gpa(), n1.root, ss::R | ss::W);
    nf.did = 122;  // a fresh domain: nothing cached
    tb.pasid_entry(dir, 22, nf);
    p.pasid = 22;
    tb.dma(0x1000, p);
    fc.expect("SFS.7 first-stage table not readable", 0x1000, hi(0x0100, 0x76, true, 22));
    // Root-table access error: last.
    tb.mem.fail_range(tb.root, tb.root + 4096);
    tb.dma(0x1000, args(0x0c00));
    fc.expect("SRT.1 root table access", 0x1000, frcd_hi(0x0c00, 0x38, true));
  });
}

TEST(vtd_fault, fpd_overflow_and_fault_events) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(false);
    page_table pt(tb.mem, tb.alloc, 4, ss::table);
    tb.legacy_context(0x0100, 0, 2, pt.root, 1);
    tb.legacy_context(0x0101, 0, 2, pt.root, 1, true);  // FPD
    // FPD: no record, the request still fails.
    auto r = tb.read(0x0101, 0x1000);
    EXPECT_EQ(r.ext.fault_type, 0x6);
    EXPECT_EQ(tb.reg(r::FSTS), 0u);
    EXPECT_EQ(tb.counter("faults", "suppressed_fpd"), 1u);
    // Fault event, masked (reset): IP pending, no message.
    const uint64_t msi = 0xfee0'1000;
    tb.set_reg(r::FEDATA, 0x4041);
    tb.set_reg(r::FEADDR, msi);
    const size_t w0 = tb.mem.writes.size();
    tb.read(0x0100, 0x1000);
    EXPECT_EQ(tb.reg(r::FECTL), 0xc000'0000u) << "IM, IP";
    EXPECT_EQ(tb.mem.writes.size(), w0);
    tb.set_reg(r::FECTL, 0);  // unmask: the pending message goes out
    ASSERT_EQ(tb.mem.writes.size(), w0 + 1);
    EXPECT_EQ(tb.mem.writes.back().addr, msi);
    EXPECT_EQ(tb.mem.writes.back().value, 0x4041u);
    EXPECT_EQ(tb.reg(r::FECTL), 0u);
    // 7 more faults fill the 8 registers; PPF was already set: no new event.
    for (uint64_t i = 1; i < 8; i++) tb.read(0x0100, 0x1000 * (i + 1));
    EXPECT_EQ(tb.mem.writes.size(), w0 + 1);
    EXPECT_EQ(tb.reg(r::FSTS), 0x2u) << "PPF, FRI 0";
    // The ninth finds register 0 still in use: overflow, not recorded.
    tb.read(0x0100, 0x9000);
    EXPECT_EQ(tb.reg(r::FSTS), 0x3u) << "PFO + PPF";
    EXPECT_EQ(tb.counter("faults", "overflow"), 1u);
    for (unsigned i = 0; i < 8; i++) EXPECT_EQ(tb.frcd(i).first, 0x1000u * (i + 1));
    // Clear everything; PFO stops recording until cleared.
    for (unsigned i = 0; i < 8; i++) tb.set_reg(cfg.cap.fro + 16 * i + 12, 0x8000'0000u);
    EXPECT_EQ(tb.reg(r::FSTS), 0x1u);
    tb.read(0x0100, 0xa000);
    EXPECT_EQ(tb.counter("faults", "overflow"), 2u);
    tb.set_reg(r::FSTS, 1);
    EXPECT_EQ(tb.reg(r::FSTS), 0u);
    // Next fault: register 0 again (round robin), FRI 0, a new event.
    tb.read(0x0100, 0xb000);
    EXPECT_EQ(tb.reg(r::FSTS), 0x2u);
    EXPECT_EQ(tb.frcd(0).first, 0xb000u);
    ASSERT_EQ(tb.mem.writes.size(), w0 + 2);
    EXPECT_EQ(tb.mem.writes.back().value, 0x4041u);
    tb.set_reg(cfg.cap.fro + 12, 0x8000'0000u);
    // Wired line when FEADDR is 0.
    tb.set_reg(r::FEADDR, 0);
    tb.irqs.clear();
    tb.read(0x0100, 0xc000);
    ASSERT_EQ(tb.irqs.size(), 2u);
    EXPECT_EQ(tb.irqs[0], std::make_pair(0u, true));
    EXPECT_EQ(tb.irqs[1], std::make_pair(0u, false));
    EXPECT_EQ(tb.reg(r::FSTS), 0x2u | (1u << 8)) << "FRI 1";
  });
}

}  // namespace
