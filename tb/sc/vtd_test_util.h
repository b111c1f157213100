// SPDX-License-Identifier: MIT
// Test bench for the VT-d model: a harness binding the model's sockets to
// the shared test memory and endpoint (iommu_test_util.h); builders for
// root/context/PASID entries, x86 page tables and invalidation descriptors,
// with the spec's bit positions spelled out here (VT-d Rev 5.0 §9, §6.5.2),
// independently of the model's headers.
#pragma once

#include <gtest/gtest.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "iommu_test_util.h"
#include "models/common/iommu_extension.h"
#include "models/common/pcie_messages.h"
#include "models/vtd/vtd.h"

namespace vtd_test {

using namespace iommusim::models;
using namespace iommusim::models::vtd;
using sc_core::sc_time;
using sc_core::SC_NS;
using sc_core::SC_ZERO_TIME;
using iommu_test::allocator;
using iommu_test::dma_result;
using iommu_test::test_endpoint;
using iommu_test::test_memory;

inline uint64_t ns(const sc_time &t) { return static_cast<uint64_t>(t.to_seconds() * 1e9 + 0.5); }

// ------------------------------------------------------------------ entries

// First-stage (IA-32e) and second-stage entry bits.
namespace fs {
constexpr uint64_t P = 1, RW = 2, US = 4, A = 1ull << 5, D = 1ull << 6, PS = 1ull << 7,
                   G = 1ull << 8, XD = 1ull << 63;
constexpr uint64_t table = P | RW | US;
}  // namespace fs
namespace ss {
constexpr uint64_t R = 1, W = 2, X = 4, PS = 1ull << 7, A = 1ull << 8, D = 1ull << 9;
constexpr uint64_t table = R | W;
}  // namespace ss

// An x86 page table (first or second stage) of `levels` levels. Tables are
// at PAs; for a nested first stage they point at each other by GPA
// (gpa = pa + gpa_delta), which the second stage must map.
struct page_table {
  test_memory *mem;
  allocator *alloc;
  unsigned levels;
  uint64_t upper;          // bits of the non-leaf entries
  int64_t gpa_delta = 0;
  uint64_t root = 0;
  page_table(test_memory &m, allocator &a, unsigned lv, uint64_t upper_bits, int64_t delta = 0)
      : mem(&m), alloc(&a), levels(lv), upper(upper_bits), gpa_delta(delta) {
    root = alloc->alloc(4096);
  }
  uint64_t root_gpa() const { return root + static_cast<uint64_t>(gpa_delta); }
  static uint64_t index(uint64_t ia, unsigned n) { return (ia >> (12 + 9 * (n - 1))) & 511; }
  // Address of the entry for ia at spec level n (1 = PTE), creating tables.
  uint64_t slot(uint64_t ia, unsigned n) {
    uint64_t table = root;
    for (unsigned l = levels; l > n; l--) {
      const uint64_t a = table + index(ia, l) * 8;
      uint64_t e = mem->read64(a);
      if (!e) {
        const uint64_t t = alloc->alloc(4096);
        e = (t + static_cast<uint64_t>(gpa_delta)) | upper;
        mem->write64(a, e);
      }
      table = (e & 0x000f'ffff'ffff'f000ull) - static_cast<uint64_t>(gpa_delta);
    }
    return table + index(ia, n) * 8;
  }
  // Map ia -> oa with a leaf at spec level n; returns the leaf's address.
  uint64_t map(uint64_t ia, uint64_t oa, uint64_t bits, unsigned n = 1) {
    const uint64_t a = slot(ia, n);
    mem->write64(a, (oa & ~((1ull << (12 + 9 * (n - 1))) - 1)) | bits);
    return a;
  }
};

// ------------------------------------------------------------------ descriptors

namespace desc {
struct d256 {
  uint64_t q[4] = {0, 0, 0, 0};
};
inline d256 make(uint64_t q0, uint64_t q1 = 0) {
  d256 d;
  d.q[0] = q0;
  d.q[1] = q1;
  return d;
}
// §6.5.2.1 context-cache: type 1, G 5:4, DID 31:16, SID 47:32, FM 49:48.
inline d256 cc(unsigned g, uint16_t did = 0, uint16_t sid = 0, unsigned fm = 0) {
  return make(1 | (uint64_t{g} << 4) | (uint64_t{did} << 16) | (uint64_t{sid} << 32) | (uint64_t{fm} << 48));
}
// §6.5.2.3 IOTLB: type 2, G 5:4, DW 6, DR 7, DID 31:16; ADDR 63:12, IH 6, AM 5:0.
inline d256 iotlb(unsigned g, uint16_t did = 0, uint64_t addr = 0, unsigned am = 0, bool ih = false) {
  return make(2 | (uint64_t{g} << 4) | (uint64_t{did} << 16), (addr & ~0xfffull) | (ih ? 64 : 0) | am);
}
// §6.5.2.6 device-TLB: type 3, SID 47:32; ADDR 63:12, S 0.
inline d256 dev_tlb(uint16_t sid, uint64_t addr, bool s = false) {
  return make(3 | (uint64_t{sid} << 32), (addr & ~0xfffull) | (s ? 1 : 0));
}
inline d256 iec() { return make(4); }
// §6.5.2.8 wait: type 5, IF 4, SW 5, FN 6, PD 7, status data 63:32; address 63:2.
inline d256 wait(bool sw, bool ifl, uint32_t data = 0, uint64_t addr = 0) {
  return make(5 | (ifl ? 16 : 0) | (sw ? 32 : 0) | (uint64_t{data} << 32), addr & ~3ull);
}
// §6.5.2.4 PASID-based IOTLB: type 6, G 5:4, DID 31:16, PASID 51:32; ADDR, IH, AM.
inline d256 piotlb(unsigned g, uint16_t did, uint32_t pasid, uint64_t addr = 0, unsigned am = 0) {
  return make(6 | (uint64_t{g} << 4) | (uint64_t{did} << 16) | (uint64_t{pasid} << 32), (addr & ~0xfffull) | am);
}
// §6.5.2.5 PASID cache: type 7, G 5:4, DID 31:16, PASID 51:32.
inline d256 pc(unsigned g, uint16_t did, uint32_t pasid = 0) {
  return make(7 | (uint64_t{g} << 4) | (uint64_t{did} << 16) | (uint64_t{pasid} << 32));
}
// §6.5.2.7 PASID-based device-TLB: type 8, SID 31:16, PASID 51:32; ADDR, S 11, G 0.
inline d256 pdev_tlb(uint16_t sid, uint32_t pasid, uint64_t addr, bool s = false, bool g = false) {
  return make(8 | (uint64_t{sid} << 16) | (uint64_t{pasid} << 32), (addr & ~0xfffull) | (s ? 1ull << 11 : 0) | (g ? 1 : 0));
}
// §6.5.2.9 page group response: type 9, PP 4, code 15:12, RID 31:16, PASID 51:32; LPIG 2, PRGI 11:3.
inline d256 pgrp_resp(uint16_t rid, uint16_t prgi, unsigned code, bool pp = false, uint32_t pasid = 0) {
  return make(9 | (pp ? 16 : 0) | (uint64_t{code} << 12) | (uint64_t{rid} << 16) | (uint64_t{pasid} << 32),
              4 | (uint64_t{prgi} << 3));
}
}  // namespace desc

// ------------------------------------------------------------------ harness

struct dma_args {
  uint16_t sid = 0x0100;   // bus 1, dev 0, fn 0
  bool pv = false;
  uint32_t pasid = 0;
  bool write = false, priv = false, exec = false;
  at_kind at = at_kind::untranslated;
  bool no_write = false;
  unsigned len = 8;
};

// Register offsets (§11.4), written out here.
namespace r {
constexpr uint32_t VER = 0x0, CAP = 0x8, ECAP = 0x10, GCMD = 0x18, GSTS = 0x1c, RTADDR = 0x20,
                   CCMD = 0x28, FSTS = 0x34, FECTL = 0x38, FEDATA = 0x3c, FEADDR = 0x40,
                   FEUADDR = 0x44, PMEN = 0x64, IQH = 0x80, IQT = 0x88, IQA = 0x90, ICS = 0x9c,
                   IECTL = 0xa0, IEDATA = 0xa4, IEADDR = 0xa8, IEUADDR = 0xac, IQERCD = 0xb0,
                   PQH = 0xc0, PQT = 0xc8, PQA = 0xd0, PRS = 0xdc, PECTL = 0xe0, PEDATA = 0xe4,
                   PEADDR = 0xe8, PEUADDR = 0xec;
constexpr uint32_t TE = 1u << 31, SRTP = 1u << 30, WBF = 1u << 27, QIE = 1u << 26, IRE = 1u << 25,
                   CFI = 1u << 23;
}  // namespace r

class harness : public iommu_test::harness_base {
 public:
  test_memory mem;
  iommusim::models::vtd::vtd iommu;
  test_endpoint ep;
  tlm_utils::simple_initiator_socket<harness> dev;
  allocator alloc;
  timing_mode mode;
  const vtd_config cfg;

  uint64_t root = 0, iq = 0, prq = 0, status_word = 0;
  unsigned iq_qs = 0, prq_qs = 0;
  bool scalable = false;
  uint64_t iqt = 0;
  std::map<uint16_t, uint64_t> ctx_tables;  // legacy: bus -> table; scalable: bus*2+upper -> table
  std::vector<std::pair<unsigned, bool>> irqs;

  harness(sc_core::sc_module_name n, const vtd_config &c, timing_mode m)
      : harness_base(n), mem("mem", m), iommu("iommu", c, m), ep("ep"), dev("dev"), mode(m),
        cfg(c) {
    dev.bind(iommu.upstream);
    reg_port.bind(iommu.regs);
    iommu.downstream.bind(mem.socket);
    ep.iommu = iommu.messages.operator->();
    iommu.irq = [this](unsigned line, bool a) { irqs.push_back({line, a}); };
    sc_core::sc_report_handler::set_actions("/iommusim/vtd/stale_tlb", sc_core::SC_WARNING,
                                            sc_core::SC_DO_NOTHING);
  }

  // A GCMD write as Linux does it: the persistent bits of GSTS plus one command.
  void gcmd(uint32_t cmd) {
    const uint32_t persistent = static_cast<uint32_t>(reg(r::GSTS)) & (r::TE | r::QIE | r::IRE | r::CFI);
    set_reg(r::GCMD, persistent | cmd);
  }

  // Bring-up: root table, SRTP, invalidation queue (256-bit descriptors if
  // SMTS), page request queue, TE.
  void setup(bool sm, bool enable = true, bool qi = true) {
    scalable = sm;
    root = alloc.alloc(4096);
    status_word = alloc.alloc(64, 64);
    set_reg(r::RTADDR, root | (sm ? 1ull << 10 : 0), 8);
    gcmd(r::SRTP);
    if (qi) {
      iq = alloc.alloc(4096ull << iq_qs);
      set_reg(r::IQT, 0, 8);
      set_reg(r::IQA, iq | (cfg.ecap.smts ? 1ull << 11 : 0) | iq_qs, 8);
      gcmd(r::QIE);
    }
    prq = alloc.alloc(4096ull << prq_qs);
    set_reg(r::PQH, 0, 8);
    set_reg(r::PQT, 0, 8);
    set_reg(r::PQA, prq | prq_qs, 8);
    if (enable) gcmd(r::TE);
  }

  // Legacy context entry (§9.3): P, FPD, TT 3:2, SLPTPTR; AW 2:0, DID 23:8.
  uint64_t legacy_context(uint16_t sid, unsigned tt, unsigned aw, uint64_t slptptr, uint16_t did,
                          bool fpd = false, bool present = true) {
    const unsigned bus = sid >> 8, devfn = sid & 0xff;
    auto it = ctx_tables.find(static_cast<uint16_t>(bus));
    if (it == ctx_tables.end()) {
      const uint64_t t = alloc.alloc(4096);
      mem.write64(root + bus * 16, t | 1);
      it = ctx_tables.emplace(static_cast<uint16_t>(bus), t).first;
    }
    const uint64_t a = it->second + devfn * 16;
    mem.write64(a, (present ? 1 : 0) | (fpd ? 2 : 0) | (uint64_t{tt} << 2) | slptptr);
    mem.write64(a + 8, uint64_t{aw} | (uint64_t{did} << 8));
    return a;
  }
  // Scalable context entry (§9.4): P, FPD, DTE 2, PASIDE 3, PRE 4, PDTS 11:9,
  // PASIDDIRPTR; RID_PASID 19:0.
  uint64_t sm_context(uint16_t sid, uint64_t pasid_dir, unsigned pdts = 0, bool dte = true,
                      bool paside = true, bool pre = true, bool fpd = false) {
    const unsigned bus = sid >> 8, devfn = sid & 0xff;
    const uint16_t key = static_cast<uint16_t>(bus * 2 + (devfn >= 128 ? 1 : 0));
    auto it = ctx_tables.find(key);
    if (it == ctx_tables.end()) {
      const uint64_t t = alloc.alloc(4096);
      mem.write64(root + bus * 16 + (devfn >= 128 ? 8 : 0), t | 1);
      it = ctx_tables.emplace(key, t).first;
    }
    const uint64_t a = it->second + (devfn & 127) * 32;
    mem.write64(a, 1 | (fpd ? 2 : 0) | (dte ? 4 : 0) | (paside ? 8 : 0) | (pre ? 16 : 0) |
                       (uint64_t{pdts} << 9) | pasid_dir);
    mem.write64(a + 8, 0);
    return a;
  }
  struct pasid_fields {
    unsigned pgtt = 2;         // 1 first, 2 second, 3 nested, 4 pass-through
    unsigned aw = 2;           // second stage: 1 3-level, 2 4-level, 3 5-level
    uint64_t slptptr = 0;
    bool ssade = false;
    uint16_t did = 1;
    uint64_t fsptptr = 0;
    unsigned fspm = 0;         // 0 4-level, 1 5-level
    bool sre = false, wpe = false, fpd = false;
  };
  // PASID directory entry + PASID-table entry (§9.5, §9.6). Returns the entry's address.
  uint64_t pasid_entry(uint64_t dir, uint32_t pasid, const pasid_fields &f) {
    const uint64_t de = dir + (pasid >> 6) * 8;
    uint64_t table = mem.read64(de) & ~0xfffull;
    if (!table) {
      table = alloc.alloc(4096);
      mem.write64(de, table | 1);
    }
    const uint64_t a = table + (pasid & 63) * 64;
    uint64_t e[8] = {};
    e[0] = 1 | (f.fpd ? 2 : 0) | (uint64_t{f.aw} << 2) | (uint64_t{f.pgtt} << 6) |
           (f.ssade ? 1u << 9 : 0) | f.slptptr;
    e[1] = f.did;
    e[2] = (f.sre ? 1 : 0) | (uint64_t{f.fspm} << 2) | (f.wpe ? 16 : 0) | f.fsptptr;
    mem.write(a, e, sizeof e);
    return a;
  }

  // --- invalidation queue
  void submit(const std::vector<desc::d256> &ds) {
    const unsigned sz = cfg.ecap.smts ? 32 : 16;
    const uint64_t qbytes = 4096ull << iq_qs;
    for (const auto &d : ds) {
      mem.write(iq + iqt, d.q, sz);
      iqt = (iqt + sz) % qbytes;
    }
    set_reg(r::IQT, iqt, 8);
  }
  // Submit and wait until IQH reaches IQT (or the queue stops on an error).
  void submit_wait(const std::vector<desc::d256> &ds, uint64_t max_ns = 10'000'000) {
    submit(ds);
    for (uint64_t i = 0; i < max_ns / 10; i++) {
      if (reg(r::IQH, 8) == iqt) return;
      if (reg(r::FSTS) & 0x70) return;  // IQE/ICE/ITE
      wait(sc_time(10, SC_NS));
    }
    ADD_FAILURE() << "invalidation queue did not drain";
  }
  // A wait descriptor with a status write, waited for: how a driver flushes.
  void flush(const std::vector<desc::d256> &ds) {
    std::vector<desc::d256> all = ds;
    mem.write64(status_word, 0);
    all.push_back(desc::wait(true, false, 1, status_word));
    submit_wait(all);
    EXPECT_EQ(mem.read32(status_word), 1u);
  }

  dma_result dma(uint64_t addr, const dma_args &a = dma_args(), unsigned char *buf = nullptr) {
    tlm::tlm_generic_payload tr;
    std::vector<unsigned char> local(a.len);
    tr.set_command(a.at == at_kind::translation_request ? tlm::TLM_IGNORE_COMMAND
                   : a.write                             ? tlm::TLM_WRITE_COMMAND
                                                         : tlm::TLM_READ_COMMAND);
    tr.set_address(addr);
    tr.set_data_ptr(buf ? buf : local.data());
    tr.set_data_length(a.len);
    tr.set_streaming_width(a.len);
    iommu_extension ext;
    ext.stream_id = a.sid;
    ext.ssid_valid = a.pv;
    ext.ssid = a.pasid;
    ext.privileged = a.priv;
    ext.instruction = a.exec;
    ext.at = a.at;
    ext.no_write = a.no_write;
    tr.set_extension(&ext);
    sc_time d = SC_ZERO_TIME;
    const sc_time start = sc_core::sc_time_stamp();
    dev->b_transport(tr, d);
    sync_time(d);
    dma_result res;
    res.resp = tr.get_response_status();
    res.ext = ext;
    res.elapsed = sc_core::sc_time_stamp() - start;
    tr.clear_extension(&ext);
    return res;
  }
  dma_result read(uint16_t sid, uint64_t addr) {
    dma_args a;
    a.sid = sid;
    return dma(addr, a);
  }
  dma_result write(uint16_t sid, uint64_t addr) {
    dma_args a;
    a.sid = sid;
    a.write = true;
    return dma(addr, a);
  }

  // Fault recording register n (128 bits) as software reads it.
  std::pair<uint64_t, uint64_t> frcd(unsigned n) {
    const uint32_t off = cfg.cap.fro + 16 * n;
    return {reg(off, 8), reg(off + 8, 8)};
  }
  uint64_t counter(const std::string &unit, const std::string &name) {
    const stats_group *g = iommu.stats(unit);
    return g ? g->get(name) : ~0ull;
  }
};

// FRCD high qword (bits 127:64) for a fault, written out from §11.4.9.5:
// SID 79:64, PRIV 93, EXE 94, PP 95, FR 103:96, PV 123:104, AT 125:124,
// T1 126 (1 = read), F 127.
inline uint64_t frcd_hi(uint16_t sid, uint8_t fr, bool read, unsigned at = 0, bool pp = false,
                        uint32_t pasid = 0, bool priv = false, bool exe = false) {
  return uint64_t{sid} | (priv ? 1ull << 29 : 0) | (exe ? 1ull << 30 : 0) | (pp ? 1ull << 31 : 0) |
         (uint64_t{fr} << 32) | (uint64_t{pasid} << 40) | (uint64_t{at} << 60) |
         (read ? 1ull << 62 : 0) | (1ull << 63);
}

}  // namespace vtd_test
