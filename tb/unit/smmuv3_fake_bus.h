// SPDX-License-Identifier: MIT
// A fake host_bus that behaves like a minimal SMMUv3 register file, for the
// SMMUv3 driver's unit tests: ID registers, CR0/CR0ACK and the other ACK
// registers, queue PROD/CONS with a command consumer that records every
// command, completes CMD_SYNC by writing its MSI payload to memory and can be
// told to fail commands (CMDQ_CONS.ERR + GERROR.CMDQ_ERR), EVTQ/PRIQ producer
// indexes a test sets; memory, time and interrupts are FakeBusBase's
// (fake_bus_base.h). The helpers read the structures back as the SMMU would:
// STRTAB_BASE -> STE -> CD -> tables.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/iommu.h"
#include "drivers/hostbus.h"
#include "fake_bus_base.h"
#include "drivers/smmuv3/regs.h"

namespace iommusim::test {

using namespace iommusim::iommufd;
using namespace iommusim::iommufd::smmuv3;

inline constexpr uint64_t kBase = 0x09000000;
inline constexpr uint64_t SZ_4K = 1ULL << 12, SZ_2M = 1ULL << 21, SZ_1G = 1ULL << 30;
inline constexpr uint64_t kDoorbell = 0x0c000000;

// ---------------------------------------------------------------------------
// The fake SMMU.
class FakeSmmu final : public FakeBusBase {
 public:
  struct Cmd {
    uint64_t d[2];
    uint8_t op() const { return uint8_t(d[0] & 0xff); }
  };
  struct RegWrite {
    uint64_t off;
    uint64_t val;
    bool q;
    bool operator==(const RegWrite &o) const { return off == o.off && val == o.val && q == o.q; }
  };
  struct FreeRec {
    uint64_t pa, bytes;
    size_t ncmds;  // commands consumed when it was freed
  };

  FakeSmmu() : FakeBusBase(kDoorbell) {
    idr[0] = uint32_t(idr0::S1P | idr0::S2P | fprep(idr0::TTF, idr0::TTF_AARCH64) |
                      idr0::COHACC | fprep(idr0::HTTU, idr0::HTTU_ACCESS_DIRTY) | idr0::ATS |
                      idr0::ASID16 | idr0::MSI | idr0::SEV | idr0::PRI | idr0::VMID16 |
                      idr0::CD2L | fprep(idr0::TTENDIAN, idr0::TTENDIAN_LE) |
                      fprep(idr0::STALL_MODEL, 1) | fprep(idr0::ST_LEVEL, idr0::ST_LEVEL_2LVL));
    idr[1] = uint32_t(fprep(idr1::SIDSIZE, 16) | fprep(idr1::SSIDSIZE, 20) |
                      fprep(idr1::PRIQS, 8) | fprep(idr1::EVENTQS, 8) | fprep(idr1::CMDQS, 8));
    idr[5] = uint32_t(fprep(idr5::OAS, 5) | idr5::GRAN4K);
  }

  // --- configuration ---
  uint32_t idr[6] = {0, 0, 0, 0, 0, 0};
  uint32_t iidr = 0x0483043b, aidr = 0x2;
  bool cr0ack_follows = true;
  bool consume = true;                   // the command consumer runs
  std::set<uint8_t> illegal_once;        // opcodes failing once with CERROR_ILL
  std::set<uint8_t> abort_once;          // ... with CERROR_ABT
  bool atc_sync_timeout_once = false;    // a CMD_SYNC after ATC_INV fails once
  std::function<void(unsigned)> on_irq_raise;

  // --- observation ---
  std::vector<RegWrite> writes;
  std::vector<Cmd> cmds;
  std::vector<FreeRec> frees;
  uint32_t gerror = 0;
  uint32_t cmdq_cons = 0, cons_err = 0;
  uint32_t evtq_prod = 0, priq_prod = 0;

  uint64_t reg(uint64_t off) const {
    guard g(mu);
    auto it = regs_.find(off);
    return it == regs_.end() ? 0 : it->second;
  }

  // --- host_bus ---
  uint32_t readl(uint64_t pa) override {
    guard g(mu);
    const uint64_t off = pa - kBase;
    if (off < 0x18) return idr[off / 4];
    switch (off) {
      case reg::IIDR: return iidr;
      case reg::AIDR: return aidr;
      case reg::CR0ACK: return cr0ack_follows ? uint32_t(reg(reg::CR0)) : 0;
      case reg::IRQ_CTRLACK: return uint32_t(reg(reg::IRQ_CTRL));
      case reg::GBPA: return uint32_t(reg(reg::GBPA)) & ~gbpa::UPDATE;
      case reg::GERROR: return gerror;
      case reg::CMDQ_CONS: return cmdq_cons | (cons_err << 24);
      case reg::PAGE1 + reg::EVTQ_PROD: return evtq_prod;
      case reg::PAGE1 + reg::PRIQ_PROD: return priq_prod;
      default: return uint32_t(reg(off));
    }
  }
  uint64_t readq(uint64_t pa) override { return reg(pa - kBase); }  // reg() locks
  void writel(uint64_t pa, uint32_t v) override { write(pa - kBase, v, false); }
  void writeq(uint64_t pa, uint64_t v) override { write(pa - kBase, v, true); }

  bool poll32(uint64_t pa, uint32_t mask, uint32_t want, uint64_t interval,
              uint64_t timeout) override {
    guard g(mu);
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
    uint32_t v;
    rd(pa, &v, 4);
    if ((v & mask) == want) {
      now += interval;
      return true;
    }
    now += timeout;
    return false;
  }
  // Append records to the event queue / PRI queue as the SMMU would.
  void push_event(const uint64_t rec[4]) {
    guard g(mu);
    push(reg::EVTQ_BASE, evtq_prod, rec, 4);
  }
  void push_ppr(const uint64_t rec[2]) {
    guard g(mu);
    push(reg::PRIQ_BASE, priq_prod, rec, 2);
  }
  // Commands consumed since index from, of opcode op.
  std::vector<Cmd> cmds_of(uint8_t op, size_t from = 0) const {
    guard g(mu);
    std::vector<Cmd> out;
    for (size_t i = from; i < cmds.size(); i++)
      if (cmds[i].op() == op) out.push_back(cmds[i]);
    return out;
  }

  // The SMMU's view: the STE of sid (0 if unreachable).
  uint64_t ste_pa(uint32_t sid) {
    guard g(mu);
    const uint64_t cfg = reg(reg::STRTAB_BASE_CFG);
    const uint64_t base = reg(reg::STRTAB_BASE) & strtab::BASE_ADDR_MASK;
    if (fget(strtab::CFG_FMT, cfg) == strtab::CFG_FMT_LINEAR) return base + sid * 64ULL;
    const unsigned split = unsigned(fget(strtab::CFG_SPLIT, cfg));
    const uint64_t l1 = mem64(base + (sid >> split) * 8ULL);
    if (!fget(strtab::L1_SPAN, l1)) return 0;
    return (l1 & strtab::L1_L2PTR_MASK) + (sid & ((1u << split) - 1)) * 64ULL;
  }
  std::array<uint64_t, 8> ste(uint32_t sid) {
    std::array<uint64_t, 8> s{};
    const uint64_t pa = ste_pa(sid);
    if (pa) rd(pa, s.data(), 64);
    return s;
  }
  std::array<uint64_t, 8> cd(const std::array<uint64_t, 8> &s, uint32_t ssid) {
    guard g(mu);
    std::array<uint64_t, 8> c{};
    const uint64_t ctx = s[0] & ste::S1CTXPTR_MASK;
    uint64_t pa;
    if (fget(ste::S1FMT, s[0]) == ste::S1FMT_LINEAR) {
      pa = ctx + ssid * 64ULL;
    } else {
      const uint64_t l1 = mem64(ctx + (ssid >> 10) * 8ULL);
      if (!(l1 & cd::L1_V)) return c;
      pa = (l1 & cd::L1_L2PTR_MASK) + (ssid & 1023) * 64ULL;
    }
    rd(pa, c.data(), 64);
    return c;
  }
  // Walk a 4K-granule table of 64 - tsz input bits; the leaf and its level
  // (level -1: no translation), and the address of the descriptor.
  struct Leaf {
    uint64_t pte = 0;
    int level = -1;
    uint64_t ptep = 0;
  };
  Leaf walk(uint64_t ttb, unsigned tsz, uint64_t iova) {
    guard g(mu);
    const unsigned ias = 64 - tsz;
    const int levels = int((ias - 12 + 8) / 9);
    uint64_t table = ttb;
    for (int lvl = 4 - levels; lvl < 4; lvl++) {
      const unsigned shift = 12 + 9 * unsigned(3 - lvl);
      const unsigned bits_here = lvl == 4 - levels ? ias - shift : 9;
      const uint64_t ptep = table + ((iova >> shift) & ((1ULL << bits_here) - 1)) * 8;
      const uint64_t e = mem64(ptep);
      if (!(e & 1)) return {};
      if (lvl == 3 || (e & 3) == 1) return {e, lvl, ptep};
      table = e & pte::ADDR_MASK;
    }
    return {};
  }

 protected:
  void freed(uint64_t pa, uint64_t bytes) override { frees.push_back({pa, bytes, cmds.size()}); }

 private:
  void push(uint64_t base_reg, uint32_t &prod, const uint64_t *rec, unsigned dwords) {
    const uint64_t qb = reg(base_reg);
    const unsigned log2 = unsigned(qb & 0x1f);
    const uint64_t base = qb & q::BASE_ADDR_MASK;
    wr(base + (prod & ((1u << log2) - 1)) * dwords * 8ULL, rec, dwords * 8);
    prod = (prod & q::OVERFLOW_FLAG) | ((prod + 1) & ((2u << log2) - 1));
  }
  std::map<uint64_t, uint64_t> regs_;
  void write(uint64_t off, uint64_t v, bool q) {
    guard g(mu);
    writes.push_back({off, v, q});
    regs_[off] = v;
    if (off == reg::CMDQ_CONS) cmdq_cons = uint32_t(v);
    if (off == reg::GERRORN && !((gerror ^ uint32_t(v)) & gerror::CMDQ_ERR)) cons_err = 0;
    if (off == reg::CMDQ_PROD || off == reg::GERRORN || off == reg::CR0) process();
  }
  void raise_gerror(uint32_t bit) {
    gerror ^= bit;
    if (on_irq_raise) on_irq_raise(2);
  }
  // The command consumer: from CONS to PROD while enabled and error-free.
  void process() {
    if (!(reg(reg::CR0) & cr0::CMDQEN) || cons_err || !consume) return;
    const uint64_t qb = reg(reg::CMDQ_BASE);
    const unsigned log2 = unsigned(qb & 0x1f);
    const uint64_t base = qb & q::BASE_ADDR_MASK;
    const uint32_t mask = (2u << log2) - 1;
    const uint32_t prod = uint32_t(reg(reg::CMDQ_PROD)) & mask;
    while ((cmdq_cons & mask) != prod) {
      Cmd c;
      rd(base + (cmdq_cons & ((1u << log2) - 1)) * 16ULL, c.d, 16);
      if (illegal_once.erase(c.op())) {
        cons_err = CERROR_ILL;
        raise_gerror(gerror::CMDQ_ERR);
        return;
      }
      if (abort_once.erase(c.op())) {
        cons_err = CERROR_ABT;
        raise_gerror(gerror::CMDQ_ERR);
        return;
      }
      if (c.op() == cmd::SYNC && atc_sync_timeout_once && !cmds.empty() &&
          cmds.back().op() == cmd::ATC_INV) {
        atc_sync_timeout_once = false;
        cons_err = CERROR_ATC_INV_SYNC;
        raise_gerror(gerror::CMDQ_ERR);
        return;
      }
      cmds.push_back(c);
      if (c.op() == cmd::SYNC && fget(cmd::SYNC_CS, c.d[0]) == cmd::SYNC_CS_IRQ) {
        const uint32_t data = uint32_t(c.d[0] >> 32);
        wr(c.d[1] & cmd::SYNC_MSIADDR_MASK, &data, 4);
      }
      cmdq_cons = (cmdq_cons + 1) & mask;
    }
  }
};

// A device behind the SMMU.
struct TestDevice : device {
  TestDevice(std::string n, std::vector<uint32_t> sids, bool ats = false, bool pri = false)
      : device(std::move(n)) {
    ids = std::move(sids);
    ats_capable = ats;
    pri_capable = pri;
    is_pci = true;
  }
};


}  // namespace iommusim::test
