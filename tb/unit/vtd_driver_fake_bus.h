// SPDX-License-Identifier: MIT
// A fake host_bus that behaves like a minimal VT-d remapping unit, for the
// VT-d driver's unit tests: VER/CAP/ECAP, GCMD → GSTS (TE, QIE, SRTP → RTPS,
// WBF), an invalidation queue consumer that records every descriptor,
// completes waits by their status write and can be told to fail a
// descriptor type once (IQE, ITE with an ITESID), fault recording registers
// a test fills, a page request queue a test pushes into; memory, time and
// interrupts are FakeBusBase's (fake_bus_base.h). The helpers read the
// structures back as the hardware would:
// RTADDR → root → context → PASID directory/table → second-stage tables.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/iommu.h"
#include "drivers/hostbus.h"
#include "fake_bus_base.h"
#include "drivers/vtd/regs.h"

namespace iommusim::test::vtdt {

using namespace iommusim::iommufd;
using namespace iommusim::iommufd::vtd;

inline constexpr uint64_t kVtdBase = 0xfed90000;
inline constexpr uint64_t kDoorbell = 0xfee00000;
inline constexpr uint64_t SZ_4K = 1ULL << 12, SZ_2M = 1ULL << 21, SZ_1G = 1ULL << 30;

// CAP (§11.4.2) of the fake: ND=6, SAGAW 4-level, MGAW 48, FRO 0x220/16,
// 8 fault records, PSI, SLLPS 2M+1G, MAMV 18, DWD, DRD, FL1GP.
inline constexpr uint64_t kCap = 6ULL | (0x4ULL << 8) | (47ULL << 16) | (0x22ULL << 24) |
                                 (0x3ULL << 34) | (1ULL << 39) | (7ULL << 40) | (18ULL << 48) |
                                 (1ULL << 54) | (1ULL << 55) | (1ULL << 56);
// ECAP (§11.4.3): C, QI, DT, IR, EIM, PT, SC, IRO 0x50, NEST, PRS, SRS,
// PSS 19, PASID, PDS, SMTS, SLADS, SLTS, FLTS, SMPWC.
inline constexpr uint64_t kEcap = 1ULL | (1ULL << 1) | (1ULL << 2) | (1ULL << 3) | (1ULL << 4) |
                                  (1ULL << 6) | (1ULL << 7) | (0x50ULL << 8) | (1ULL << 26) |
                                  (1ULL << 29) | (1ULL << 31) | (19ULL << 35) | (1ULL << 40) |
                                  (1ULL << 42) | (1ULL << 43) | (1ULL << 45) | (1ULL << 46) |
                                  (1ULL << 47) | (1ULL << 48);

class FakeVtd final : public FakeBusBase {
 public:
  struct RegWrite {
    uint64_t off;
    uint64_t val;
    bool q;
  };

  FakeVtd() : FakeBusBase(kDoorbell) {
    put(reg::VER, 0x40, 4);
    put(reg::CAP, kCap, 8);
    put(reg::ECAP, kEcap, 8);
  }

  // --- configuration ---
  bool gsts_follows = true;
  std::set<uint64_t> iqe_once;     // descriptor types failing once with IQE
  std::set<uint64_t> ite_once;     // descriptor types timing out once (ITE)
  bool ice_once = false;           // an ICE comes with the next wait
  bool consume = true;             // the queue consumer runs
  int late_waits = 0;              // this many wait status writes land one poll late
  uint16_t ite_sid = 0;            // ITESID to report instead of the descriptor's SID

  // --- observation ---
  std::vector<RegWrite> writes;
  std::vector<qi_desc> descs;      // consumed descriptors, waits included
  // Register-based invalidations: CCMD values, and (IVA, IOTLB_REG) pairs.
  std::vector<uint64_t> ccmds;
  std::vector<std::pair<uint64_t, uint64_t>> iotlb_regs;
  uint32_t gsts = 0, fsts = 0, prs = 0;
  uint64_t iqer = 0;
  unsigned iqh = 0;                // index of the next descriptor
  uint64_t pqt = 0;                // page request queue tail (bytes)
  unsigned wbf = 0;                // write-buffer flushes
  uint64_t reg_reads = 0, reg_writes = 0, polls = 0;

  void set_cap(uint64_t v) { put(reg::CAP, v, 8); }
  void set_ecap(uint64_t v) { put(reg::ECAP, v, 8); }
  uint64_t cap() const { return get(reg::CAP, 8); }
  uint64_t ecap() const { return get(reg::ECAP, 8); }
  uint64_t reg64(uint64_t off) const {
    guard g(mu);
    return get(off, 8);
  }
  uint32_t reg32(uint64_t off) const {
    guard g(mu);
    return uint32_t(get(off, 4));
  }
  unsigned shift() const { return (get(reg::IQA, 8) & IQA_DW) ? 5 : 4; }

  // --- host_bus ---
  uint32_t readl(uint64_t pa) override {
    guard g(mu);
    reg_reads++;
    const uint64_t off = pa - kVtdBase;
    switch (off) {
      case reg::GSTS: return gsts;
      case reg::FSTS: return fsts;
      case reg::IQH: return iqh << shift();
      case reg::PRS: return prs;
      case reg::PQT: return uint32_t(pqt);
      default: return uint32_t(get(off, 4));
    }
  }
  uint64_t readq(uint64_t pa) override {
    guard g(mu);
    reg_reads++;
    const uint64_t off = pa - kVtdBase;
    switch (off) {
      case reg::IQH: return uint64_t(iqh) << shift();
      case reg::IQER: return iqer;
      case reg::PQT: return pqt;
      default: return get(off, 8);
    }
  }
  void writel(uint64_t pa, uint32_t v) override {
    guard g(mu);
    reg_writes++;
    write(pa - kVtdBase, v, false);
  }
  void writeq(uint64_t pa, uint64_t v) override {
    guard g(mu);
    reg_writes++;
    write(pa - kVtdBase, v, true);
  }

  bool poll32(uint64_t pa, uint32_t mask, uint32_t want, uint64_t interval,
              uint64_t timeout) override {
    guard g(mu);
    polls++;
    reg_reads--;  // the readl below is the poll's
    if ((readl(pa) & mask) == want) {
      now += interval;
      return true;
    }
    now += timeout;
    return false;
  }
  bool poll_mem32(uint64_t pa, uint32_t mask, uint32_t want, uint64_t interval,
                  uint64_t timeout) override {
    guard g(mu);
    polls++;
    if (!late_.empty()) {
      // The status write lands while this poll gives up (the waiter then
      // checks FSTS before polling again).
      for (auto &[addr, data] : late_) wr(addr, &data, 4);
      late_.clear();
      now += timeout;
      return false;
    }
    uint32_t v;
    rd(pa, &v, 4);
    if ((v & mask) == want) {
      now += interval;
      return true;
    }
    now += timeout;
    return false;
  }
  // Descriptors consumed since index from, of type t.
  std::vector<qi_desc> descs_of(uint64_t t, size_t from = 0) const {
    guard g(mu);
    std::vector<qi_desc> out;
    for (size_t i = from; i < descs.size(); i++)
      if ((descs[i].qw0 & 0xf) == t) out.push_back(descs[i]);
    return out;
  }
  // Descriptors since from without the waits.
  std::vector<qi_desc> invs(size_t from = 0) const {
    guard g(mu);
    std::vector<qi_desc> out;
    for (size_t i = from; i < descs.size(); i++)
      if ((descs[i].qw0 & 0xf) != qi::IWD_TYPE) out.push_back(descs[i]);
    return out;
  }
  // Record a primary fault in record idx (§11.4.14) and raise PPF.
  void record_fault(unsigned idx, uint64_t lo, uint64_t hi) {
    guard g(mu);
    const uint64_t rec = cap::fault_reg_offset(cap()) + idx * 16ULL;
    put(rec, lo, 8);
    put(rec + 8, hi, 8);
    fsts = (fsts & ~0xff00u) | fsts::PPF | (idx << 8);
  }
  uint64_t fault_hi(unsigned idx) const {
    guard g(mu);
    return get(cap::fault_reg_offset(cap()) + idx * 16ULL + 8, 8);
  }
  // Append a page request descriptor (§7.5.1.1) at PQT, as the unit would.
  void push_prq(uint64_t q0, uint64_t q1) {
    guard g(mu);
    const uint64_t base = get(reg::PQA, 8) & ~0xfffULL;
    const uint64_t rec[4] = {q0, q1, 0, 0};
    wr(base + pqt, rec, sizeof(rec));
    pqt = (pqt + 32) & prq::RING_MASK;
    prs |= PRS_PPR;
  }

  // The hardware's view of the tables.
  uint64_t root_table() const { return get(reg::RTADDR, 8) & ~0xfffULL; }
  bool scalable() const { return get(reg::RTADDR, 8) & RTADDR_SMT; }
  // Address of the context entry of rid (0 if the root entry is not present).
  uint64_t context_pa(uint16_t rid) {
    guard g(mu);
    const uint8_t bus = uint8_t(rid >> 8), devfn = uint8_t(rid);
    if (!scalable()) {
      const uint64_t re = mem64(root_table() + bus * 16ULL);
      return (re & 1) ? (re & ~0xfffULL) + devfn * 16ULL : 0;
    }
    const uint64_t re = mem64(root_table() + bus * 16ULL + (devfn >= 0x80 ? 8 : 0));
    return (re & 1) ? (re & ~0xfffULL) + (devfn & 0x7f) * 32ULL : 0;
  }
  std::array<uint64_t, 4> context(uint16_t rid) {
    std::array<uint64_t, 4> c{};
    const uint64_t pa = context_pa(rid);
    if (pa) rd(pa, c.data(), scalable() ? 32 : 16);
    return c;
  }
  uint64_t pasid_entry_pa(uint16_t rid, uint32_t pasid_v) {
    guard g(mu);
    const auto c = context(rid);
    if (!(c[0] & 1)) return 0;
    const uint64_t pde = mem64((c[0] & ~0xfffULL) + (pasid_v >> 6) * 8ULL);
    if (!(pde & 1)) return 0;
    return (pde & ~0xfffULL) + (pasid_v & 63) * 64ULL;
  }
  std::array<uint64_t, 8> pasid_entry(uint16_t rid, uint32_t pasid_v) {
    std::array<uint64_t, 8> e{};
    const uint64_t pa = pasid_entry_pa(rid, pasid_v);
    if (pa) rd(pa, e.data(), 64);
    return e;
  }
  // Walk a second-stage table of levels levels; the leaf, its level (0: no
  // translation) and where it is.
  struct Leaf {
    uint64_t pte = 0;
    int level = 0;
    uint64_t ptep = 0;
  };
  Leaf walk(uint64_t table, int levels, uint64_t iova) {
    guard g(mu);
    for (int lvl = levels; lvl >= 1; lvl--) {
      const uint64_t ptep = table + ((iova >> (12 + 9 * (lvl - 1))) & 511) * 8;
      const uint64_t e = mem64(ptep);
      if (!(e & 3)) return {};
      if (lvl == 1 || (e & pte::LARGE_PAGE)) return {e, lvl, ptep};
      table = e & pte::ADDR_MASK;
    }
    return {};
  }

 private:
  std::array<uint8_t, 4096> regs_{};
  std::vector<std::pair<uint64_t, uint32_t>> late_;

  void put(uint64_t off, uint64_t v, unsigned n) {
    if (off + n <= regs_.size()) memcpy(&regs_[off], &v, n);
  }
  uint64_t get(uint64_t off, unsigned n) const {
    uint64_t v = 0;
    if (off + n <= regs_.size()) memcpy(&v, &regs_[off], n);
    return v;
  }
  void write(uint64_t off, uint64_t v, bool q) {
    guard g(mu);
    writes.push_back({off, v, q});
    const uint64_t fro = cap::fault_reg_offset(cap());
    if (off >= fro && off < fro + 16ULL * cap::num_fault_regs(cap())) {
      // Fault records: F (bit 31 of the dword at +12) is write-1-to-clear.
      if ((off - fro) % 16 == 12 && (v & frcd::F)) put(off, get(off, 4) & ~uint64_t(frcd::F), 4);
      return;
    }
    switch (off) {
      case reg::GCMD: {
        const uint32_t c = uint32_t(v);
        if (!gsts_follows) return;
        gsts = (gsts & ~(gsts::TES | gsts::QIES)) | (c & (gcmd::TE | gcmd::QIE));
        if (c & gcmd::SRTP) gsts |= gsts::RTPS;
        if (c & gcmd::WBF) wbf++;
        if (c & gcmd::QIE) process();
        return;
      }
      case reg::FSTS:
        fsts &= ~(uint32_t(v) & (fsts::PFO | fsts::PPF | fsts::IQE | fsts::ICE | fsts::ITE |
                                 fsts::PRO));
        if (!(fsts & fsts::PPF)) fsts &= ~0xff00u;
        process();
        return;
      case reg::PRS:
        prs &= ~uint32_t(v);
        return;
      case reg::PQT:
        pqt = v;
        return;
      case reg::CCMD:
        // Completes at once: ICC clears, CAIG = CIRG (§11.4.7).
        if (v & ccmd::ICC) {
          ccmds.push_back(v);
          v = (v & ~ccmd::ICC & ~(3ULL << 59)) | (((v >> 61) & 3) << 59);
        }
        put(off, v, 8);
        return;
      default:
        if (off == ecap::iotlb_offset(ecap()) + 8 && (v & iotlb_reg::IVT)) {
          // IVT clears; IAIG = IIRG (§11.4.8.1).
          iotlb_regs.emplace_back(get(off - 8, 8), v);
          v = (v & ~iotlb_reg::IVT & ~(3ULL << 57)) | (((v >> 60) & 3) << 57);
          put(off, v, 8);
          return;
        }
        put(off, v, q ? 8 : 4);
        if (off == reg::IQT) process();
        return;
    }
  }

  // The invalidation queue consumer: from IQH to IQT while QI is on and no
  // error is pending (§6.5.2).
  void process() {
    if (!(gsts & gsts::QIES) || (fsts & (fsts::IQE | fsts::ITE)) || !consume) return;
    const uint64_t base = get(reg::IQA, 8) & ~0xfffULL;
    const unsigned sh = shift();
    const unsigned tail = unsigned(get(reg::IQT, 8) >> sh) % 256;
    while (iqh != tail) {
      qi_desc d;
      rd(base + (uint64_t(iqh) << sh), &d, 1u << sh);
      const uint64_t type = d.qw0 & 0xf;
      if (iqe_once.erase(type)) {
        fsts |= fsts::IQE;
        iqer = 1;  // IQEI 1: reserved field / invalid descriptor
        return;
      }
      if (ite_once.erase(type)) {
        // The device never answered: every pending wait is aborted (§6.5.2.10).
        descs.push_back(d);
        fsts |= fsts::ITE;
        iqer = uint64_t(ite_sid ? ite_sid : uint16_t(d.qw0 >> 32)) << 32;
        iqh = tail;
        return;
      }
      descs.push_back(d);
      if (type == qi::IWD_TYPE && (d.qw0 & qi::IWD_STATUS_WRITE)) {
        const uint32_t data = uint32_t(d.qw0 >> 32);
        if (late_waits > 0) {
          late_waits--;
          late_.emplace_back(d.qw1 & ~3ULL, data);
        } else {
          wr(d.qw1 & ~3ULL, &data, 4);
        }
        if (ice_once) {
          ice_once = false;
          fsts |= fsts::ICE;
        }
      }
      iqh = (iqh + 1) % 256;
    }
  }
};

// A PCI device behind the unit, named by its requester IDs.
struct TestDevice : device {
  TestDevice(std::string n, std::vector<uint32_t> rids, bool ats = false, bool pri = false,
             uint32_t pasids = 0)
      : device(std::move(n)) {
    ids = std::move(rids);
    ats_capable = ats;
    pri_capable = pri;
    max_pasids = pasids;
    is_pci = true;
  }
};

}  // namespace iommusim::test::vtdt
