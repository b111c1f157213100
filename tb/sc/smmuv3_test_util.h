// SPDX-License-Identifier: MIT
// Test bench for the SMMUv3 model: a harness that binds the SMMU's sockets to
// the shared test memory and endpoint (iommu_test_util.h); builders for
// VMSAv8-64 tables, STEs, CDs and commands. Tables and queues are built in
// memory exactly as a driver would.
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
#include "models/smmuv3/smmuv3.h"

namespace smmuv3_test {

using namespace iommusim::models;
using namespace iommusim::models::smmuv3;
using sc_core::sc_time;
using sc_core::SC_NS;
using sc_core::SC_ZERO_TIME;
using iommu_test::allocator;
using iommu_test::dma_result;
using iommu_test::test_endpoint;
using iommu_test::test_memory;

inline uint64_t mask(unsigned bits) { return bits >= 64 ? ~0ull : (1ull << bits) - 1; }

// ------------------------------------------------------------------ descriptors

// VMSAv8-64 leaf attributes (Arm ARM D8).
namespace d {
constexpr uint64_t valid = 1ull << 0;
constexpr uint64_t page = 1ull << 1;  // level 3 page / table at levels 0-2
constexpr uint64_t ap1 = 1ull << 6;   // s1: EL0 access   s2: S2AP[0] read
constexpr uint64_t ap2 = 1ull << 7;   // s1: read-only    s2: S2AP[1] write
constexpr uint64_t sh_inner = 3ull << 8;
constexpr uint64_t af = 1ull << 10;
constexpr uint64_t ng = 1ull << 11;
constexpr uint64_t dbm = 1ull << 51;
constexpr uint64_t pxn = 1ull << 53;
constexpr uint64_t uxn = 1ull << 54;  // s2: XN[1]
constexpr uint64_t s2_memattr_wb = 0xfull << 2;
// Common leaf attribute sets.
constexpr uint64_t s1_rw_priv = af | sh_inner | ng;               // AP = 00: EL1 RW, EL0 none
constexpr uint64_t s1_rw_all = af | sh_inner | ng | ap1;          // AP = 01
constexpr uint64_t s1_ro_priv = af | sh_inner | ng | ap2;         // AP = 10
constexpr uint64_t s1_ro_all = af | sh_inner | ng | ap1 | ap2;    // AP = 11
constexpr uint64_t s2_rw = af | sh_inner | s2_memattr_wb | ap1 | ap2;
constexpr uint64_t s2_ro = af | sh_inner | s2_memattr_wb | ap1;
}  // namespace d

// Builds one VMSAv8-64 translation table tree (stage 1 or 2) in memory.
struct page_table {
  test_memory *mem;
  allocator *alloc;
  unsigned granule;   // 12, 14, 16
  unsigned ias;
  int start;
  unsigned concat = 1;
  uint64_t root = 0;

  // Nested stage 1: the tables live at PAs but point at each other by IPA
  // (ipa = pa + ipa_delta; stage 2 must map them so).
  int64_t ipa_delta = 0;

  page_table(test_memory &m, allocator &a, unsigned g, unsigned ias_bits, int start_level,
             unsigned concat_tables = 1, int64_t delta = 0)
      : mem(&m), alloc(&a), granule(g), ias(ias_bits), start(start_level), concat(concat_tables),
        ipa_delta(delta) {
    root = alloc->alloc(concat * (1ull << g), concat * (1ull << g));
  }
  uint64_t root_ipa() const { return root + static_cast<uint64_t>(ipa_delta); }
  unsigned level_shift(int l) const { return granule + static_cast<unsigned>(3 - l) * (granule - 3); }
  uint64_t index(int l, uint64_t ia) const {
    const unsigned ls = level_shift(l);
    const unsigned bits = l == start ? ias - ls : granule - 3;
    return (ia >> ls) & mask(bits);
  }
  // Address of the descriptor for ia at `level`, creating tables above it.
  uint64_t slot(uint64_t ia, int level) {
    uint64_t table = root;
    for (int l = start; l < level; l++) {
      const uint64_t a = table + index(l, ia) * 8;
      uint64_t desc = mem->read64(a);
      if (!(desc & d::valid)) {
        const uint64_t t = alloc->alloc(1ull << granule, 1ull << granule);
        desc = (t + static_cast<uint64_t>(ipa_delta)) | d::valid | d::page;
        mem->write64(a, desc);
      }
      table = (desc & 0x0000'ffff'ffff'f000ull & ~mask(granule)) - static_cast<uint64_t>(ipa_delta);
    }
    return table + index(level, ia) * 8;
  }
  // Map ia -> oa with a leaf at level (a page at level 3, else a block).
  // Returns the leaf descriptor's address.
  uint64_t map(uint64_t ia, uint64_t oa, uint64_t attrs, int level = 3) {
    const uint64_t a = slot(ia, level);
    mem->write64(a, (oa & ~mask(level_shift(level))) | attrs | d::valid | (level == 3 ? d::page : 0));
    return a;
  }
  uint64_t leaf_addr(uint64_t ia, int level = 3) { return slot(ia, level); }
};

// ------------------------------------------------------------------ STE / CD

struct ste_builder {
  bool valid = true;
  unsigned config = ste_cfg::s1;
  unsigned s1fmt = 0;
  uint64_t s1ctxptr = 0;
  unsigned s1cdmax = 0;
  unsigned s1dss = 0;
  bool s1stalld = false;
  unsigned eats = 0;
  unsigned strw = 0;
  unsigned privcfg = 0, instcfg = 0;
  uint16_t vmid = 0;
  unsigned s2t0sz = 24, s2sl0 = 1, s2tg = 0, s2ps = 5;  // 40-bit IPA, 4K, start level 1
  bool s2aa64 = true, s2ha = false, s2hd = false, s2s = false, s2r = true;
  uint64_t s2ttb = 0;
  void encode(uint64_t raw[8]) const {
    for (int i = 0; i < 8; i++) raw[i] = 0;
    raw[0] = (valid ? 1ull : 0) | (uint64_t{config} << 1) | (uint64_t{s1fmt} << 4) |
             (s1ctxptr & 0x00ff'ffff'ffff'ffc0ull) | (uint64_t{s1cdmax} << 59);
    raw[1] = uint64_t{s1dss} | (s1stalld ? 1ull << 27 : 0) | (uint64_t{eats} << 28) |
             (uint64_t{strw} << 30) | (uint64_t{privcfg} << 48) | (uint64_t{instcfg} << 50);
    raw[2] = uint64_t{vmid} | (uint64_t{s2t0sz} << 32) | (uint64_t{s2sl0} << 38) |
             (uint64_t{s2tg} << 46) | (uint64_t{s2ps} << 48) | (s2aa64 ? 1ull << 51 : 0) |
             (s2hd ? 1ull << 55 : 0) | (s2ha ? 1ull << 56 : 0) | (s2s ? 1ull << 57 : 0) |
             (s2r ? 1ull << 58 : 0);
    raw[3] = s2ttb & 0x000f'ffff'ffff'fff0ull;
  }
};

struct cd_builder {
  bool valid = true;
  uint64_t ttb0 = 0;
  unsigned t0sz = 16, tg0 = 0, ips = 5;
  bool epd0 = false, epd1 = true;
  uint64_t ttb1 = 0;
  unsigned t1sz = 16, tg1 = 2;  // TG1 encoding: 2 = 4K
  unsigned tbi = 0;
  bool aa64 = true, ha = false, hd = false, s = false, r = true, a = true, had0 = false;
  uint16_t asid = 1;
  void encode(uint64_t raw[8]) const {
    for (int i = 0; i < 8; i++) raw[i] = 0;
    raw[0] = uint64_t{t0sz} | (uint64_t{tg0} << 6) | (epd0 ? 1ull << 14 : 0) |
             (uint64_t{t1sz} << 16) | (uint64_t{tg1} << 22) | (epd1 ? 1ull << 30 : 0) |
             (valid ? 1ull << 31 : 0) | (uint64_t{ips} << 32) | (uint64_t{tbi} << 38) |
             (aa64 ? 1ull << 41 : 0) | (hd ? 1ull << 42 : 0) | (ha ? 1ull << 43 : 0) |
             (s ? 1ull << 44 : 0) | (r ? 1ull << 45 : 0) | (a ? 1ull << 46 : 0) |
             (uint64_t{asid} << 48);
    raw[1] = (ttb0 & 0x000f'ffff'ffff'fff0ull) | (had0 ? 2ull : 0);
    raw[2] = ttb1 & 0x000f'ffff'ffff'fff0ull;
    raw[3] = 0x44ff04;  // MAIR
  }
};

// ------------------------------------------------------------------ commands

namespace cmd {
inline command make(uint64_t w0, uint64_t w1 = 0) {
  command c;
  c.raw[0] = w0;
  c.raw[1] = w1;
  return c;
}
inline command sync_msi(uint64_t addr, uint32_t data) {
  return make(op::CMD_SYNC | (uint64_t{sync_cs::IRQ} << 12) | (uint64_t{data} << 32), addr & ~3ull);
}
inline command sync_none() { return make(op::CMD_SYNC); }
inline command sync_irq() { return make(op::CMD_SYNC | (uint64_t{sync_cs::IRQ} << 12)); }
inline command sync_sev() { return make(op::CMD_SYNC | (uint64_t{sync_cs::SEV} << 12)); }
inline command cfgi_ste(uint32_t sid, bool leaf = true) {
  return make(op::CFGI_STE | (uint64_t{sid} << 32), leaf ? 1 : 0);
}
inline command cfgi_ste_range(uint32_t sid, unsigned range) {
  return make(op::CFGI_STE_RANGE | (uint64_t{sid} << 32), range);
}
inline command cfgi_all() { return cfgi_ste_range(0, 31); }
inline command cfgi_cd(uint32_t sid, uint32_t ssid, bool leaf = true) {
  return make(op::CFGI_CD | (uint64_t{ssid} << 12) | (uint64_t{sid} << 32), leaf ? 1 : 0);
}
inline command cfgi_cd_all(uint32_t sid) { return make(op::CFGI_CD_ALL | (uint64_t{sid} << 32)); }
inline command tlbi_nh_va(uint16_t asid, uint16_t vmid, uint64_t va, bool leaf = true) {
  return make(op::TLBI_NH_VA | (uint64_t{vmid} << 32) | (uint64_t{asid} << 48),
              (va & ~0xfffull) | (leaf ? 1 : 0));
}
inline command tlbi_nh_va_range(uint16_t asid, uint16_t vmid, uint64_t va, unsigned num,
                                unsigned scale, unsigned tg) {
  return make(op::TLBI_NH_VA | (uint64_t{num} << 12) | (uint64_t{scale} << 20) |
                  (uint64_t{vmid} << 32) | (uint64_t{asid} << 48),
              (va & ~0xfffull) | (uint64_t{tg} << 10));
}
inline command tlbi_nh_vaa(uint16_t vmid, uint64_t va) {
  return make(op::TLBI_NH_VAA | (uint64_t{vmid} << 32), va & ~0xfffull);
}
inline command tlbi_nh_asid(uint16_t asid, uint16_t vmid) {
  return make(op::TLBI_NH_ASID | (uint64_t{vmid} << 32) | (uint64_t{asid} << 48));
}
inline command tlbi_nh_all(uint16_t vmid) { return make(op::TLBI_NH_ALL | (uint64_t{vmid} << 32)); }
inline command tlbi_el2_all() { return make(op::TLBI_EL2_ALL); }
inline command tlbi_el2_asid(uint16_t asid) { return make(op::TLBI_EL2_ASID | (uint64_t{asid} << 48)); }
inline command tlbi_el2_va(uint16_t asid, uint64_t va) {
  return make(op::TLBI_EL2_VA | (uint64_t{asid} << 48), va & ~0xfffull);
}
inline command tlbi_el2_vaa(uint64_t va) { return make(op::TLBI_EL2_VAA, va & ~0xfffull); }
inline command tlbi_s2_ipa(uint16_t vmid, uint64_t ipa, bool leaf = true) {
  return make(op::TLBI_S2_IPA | (uint64_t{vmid} << 32), (ipa & ~0xfffull) | (leaf ? 1 : 0));
}
inline command tlbi_s12_vmall(uint16_t vmid) { return make(op::TLBI_S12_VMALL | (uint64_t{vmid} << 32)); }
inline command tlbi_nsnh_all() { return make(op::TLBI_NSNH_ALL); }
inline command prefetch_config(uint32_t sid) { return make(op::PREFETCH_CONFIG | (uint64_t{sid} << 32)); }
inline command prefetch_addr(uint32_t sid, uint64_t addr) {
  return make(op::PREFETCH_ADDR | (uint64_t{sid} << 32), addr & ~0xfffull);
}
inline command atc_inv(uint32_t sid, uint64_t addr, unsigned size, bool ssv = false, uint32_t ssid = 0) {
  return make(op::ATC_INV | (ssv ? 1ull << 11 : 0) | (uint64_t{ssid} << 12) | (uint64_t{sid} << 32),
              (addr & ~0xfffull) | size);
}
inline command pri_resp(uint32_t sid, uint16_t grpid, unsigned resp, bool ssv = false, uint32_t ssid = 0) {
  return make(op::PRI_RESP | (ssv ? 1ull << 11 : 0) | (uint64_t{ssid} << 12) | (uint64_t{sid} << 32),
              uint64_t{grpid} | (uint64_t{resp} << 12));
}
inline command resume(uint32_t sid, uint16_t stag, unsigned action) {
  return make(op::RESUME | (uint64_t{action} << 12) | (uint64_t{sid} << 32), stag);
}
inline command stall_term(uint32_t sid) { return make(op::STALL_TERM | (uint64_t{sid} << 32)); }
}  // namespace cmd

// ------------------------------------------------------------------ harness

struct dma_args {
  uint32_t sid = 0;
  bool ssv = false;
  uint32_t ssid = 0;
  bool write = false;
  bool priv = false;
  bool instr = false;
  at_kind at = at_kind::untranslated;
  bool no_write = false;
  unsigned port = 0;
  unsigned len = 8;
};

inline smmuv3_config test_config() {
  smmuv3_config c;
  c.tbus = 2;
  return c;
}

class harness : public iommu_test::harness_base {
 public:
  test_memory mem;
  iommusim::models::smmuv3::smmuv3 smmu;
  test_endpoint ep;
  tlm_utils::simple_initiator_socket<harness> dev0, dev1;
  allocator alloc;
  timing_mode mode;

  // Where the driver keeps things.
  uint64_t strtab = 0, cmdq = 0, evtq = 0, priq = 0, sync_word = 0;
  unsigned strtab_log2 = 8, cmdq_log2 = 6, evtq_log2 = 6, priq_log2 = 6;
  bool strtab_2lvl = false;
  unsigned split = 6;
  std::map<uint32_t, uint64_t> l2_tables;  // 2-level: L1 index -> L2 table
  uint32_t cmd_prod = 0, evt_cons = 0, pri_cons = 0;
  std::vector<std::pair<unsigned, bool>> irqs;  // (line, asserted)

  harness(sc_core::sc_module_name n, const smmuv3_config &cfg, timing_mode m)
      : harness_base(n),
        mem("mem", m),
        smmu("smmu", cfg, m),
        ep("ep"),
        dev0("dev0"),
        dev1("dev1"),
        mode(m) {
    dev0.bind(smmu.upstream);
    dev1.bind(smmu.upstream);
    reg_port.bind(smmu.regs);
    smmu.downstream.bind(mem.socket);
    ep.iommu = smmu.messages.operator->();
    smmu.irq = [this](unsigned line, bool a) { irqs.push_back({line, a}); };
  }

  // --- bring-up, as a driver does it
  void setup(bool enable = true, uint32_t cr0_extra = 0) {
    sync_word = alloc.alloc(64, 64);
    if (strtab_2lvl) {
      const uint64_t l1_entries = 1ull << (strtab_log2 - split);
      strtab = alloc.alloc(l1_entries * 8, std::max<uint64_t>(64, l1_entries * 8));
    } else {
      strtab = alloc.alloc(64ull << strtab_log2, 64ull << strtab_log2);
    }
    cmdq = alloc.alloc(16ull << cmdq_log2, std::max<uint64_t>(32, 16ull << cmdq_log2));
    evtq = alloc.alloc(32ull << evtq_log2, std::max<uint64_t>(32, 32ull << evtq_log2));
    priq = alloc.alloc(16ull << priq_log2, std::max<uint64_t>(32, 16ull << priq_log2));
    set_reg(reg::STRTAB_BASE, strtab, 8);
    set_reg(reg::STRTAB_BASE_CFG, strtab_log2 | (split << 6) | ((strtab_2lvl ? 1u : 0u) << 16));
    set_reg(reg::CMDQ_BASE, cmdq | cmdq_log2, 8);
    set_reg(reg::CMDQ_PROD, 0);
    set_reg(reg::CMDQ_CONS, 0);
    set_reg(reg::EVTQ_BASE, evtq | evtq_log2, 8);
    set_reg(reg::EVTQ_PROD, 0);
    set_reg(reg::EVTQ_CONS, 0);
    set_reg(reg::PRIQ_BASE, priq | priq_log2, 8);
    set_reg(reg::PRIQ_PROD, 0);
    set_reg(reg::PRIQ_CONS, 0);
    set_reg(reg::CR2, reg::CR2_RECINVSID);
    set_reg(reg::IRQ_CTRL, 7);
    if (!enable) return;
    set_reg(reg::CR0, reg::CR0_CMDQEN | reg::CR0_EVENTQEN | reg::CR0_PRIQEN | cr0_extra);
    set_reg(reg::CR0, reg::CR0_CMDQEN | reg::CR0_EVENTQEN | reg::CR0_PRIQEN | reg::CR0_SMMUEN |
                          cr0_extra);
  }

  uint64_t ste_addr(uint32_t sid) {
    if (!strtab_2lvl) return strtab + uint64_t{sid} * 64;
    const uint32_t l1 = sid >> split;
    auto it = l2_tables.find(l1);
    if (it == l2_tables.end()) {
      const uint64_t l2 = alloc.alloc(64ull << split, 64ull << split);
      it = l2_tables.emplace(l1, l2).first;
      mem.write64(strtab + l1 * 8ull, l2 | (split + 1));  // Span = SPLIT + 1: the whole L2 table
    }
    return it->second + (sid & mask(split)) * 64;
  }
  void write_ste(uint32_t sid, const ste_builder &s) {
    uint64_t raw[8];
    s.encode(raw);
    mem.write(ste_addr(sid), raw, sizeof(raw));
  }
  uint64_t write_cd(const cd_builder &c, uint64_t at = 0) {
    if (!at) at = alloc.alloc(64, 64);
    uint64_t raw[8];
    c.encode(raw);
    mem.write(at, raw, sizeof(raw));
    return at;
  }

  // A stage-1 stream: STE -> one CD -> a 4K, 48-bit, 4-level table.
  struct s1_stream {
    uint64_t cd = 0;
    std::unique_ptr<page_table> pt;
  };
  s1_stream make_s1_stream(uint32_t sid, cd_builder c = cd_builder(), ste_builder s = ste_builder()) {
    s1_stream st;
    st.pt = std::make_unique<page_table>(mem, alloc, 12, 48, 0);
    c.ttb0 = st.pt->root;
    st.cd = write_cd(c);
    s.config = ste_cfg::s1;
    s.s1ctxptr = st.cd;
    write_ste(sid, s);
    return st;
  }

  // --- commands
  void submit(const std::vector<command> &cmds) {
    for (const auto &c : cmds) {
      const uint64_t slot = cmdq + uint64_t{cmd_prod & mask(cmdq_log2)} * 16;
      mem.write(slot, c.raw, 16);
      cmd_prod = (cmd_prod + 1) & mask(cmdq_log2 + 1);
    }
    set_reg(reg::CMDQ_PROD, cmd_prod);
  }
  // Wait until CONS reaches PROD (or the queue stops on an error).
  bool drain(sc_time timeout = sc_time(2, sc_core::SC_MS)) {
    const sc_time end = sc_core::sc_time_stamp() + timeout;
    while (sc_core::sc_time_stamp() < end) {
      const uint32_t cons = static_cast<uint32_t>(reg(reg::CMDQ_CONS));
      if ((cons & mask(cmdq_log2 + 1)) == cmd_prod) return true;
      if ((reg(reg::GERROR) ^ reg(reg::GERRORN)) & reg::GERROR_CMDQ_ERR) return false;
      wait(sc_time(20, SC_NS));
    }
    return false;
  }
  // Commands then a CMD_SYNC whose MSI the driver polls for.
  bool run_cmds(const std::vector<command> &cmds) {
    std::vector<command> all = cmds;
    mem.write64(sync_word, 0);
    all.push_back(cmd::sync_msi(sync_word, 1));
    submit(all);
    return drain();
  }
  bool invalidate_all() { return run_cmds({cmd::cfgi_all(), cmd::tlbi_nsnh_all()}); }

  // --- DMA
  dma_result dma(uint64_t addr, const dma_args &a, void *data = nullptr) {
    dma_result r;
    std::vector<uint8_t> buf(a.len, 0);
    tlm::tlm_generic_payload tr;
    tr.set_command(a.at == at_kind::translation_request ? tlm::TLM_READ_COMMAND
                   : a.write                             ? tlm::TLM_WRITE_COMMAND
                                                         : tlm::TLM_READ_COMMAND);
    tr.set_address(addr);
    tr.set_data_ptr(data ? static_cast<unsigned char *>(data) : buf.data());
    tr.set_data_length(a.at == at_kind::translation_request ? 0 : a.len);
    tr.set_streaming_width(a.at == at_kind::translation_request ? 0 : a.len);
    iommu_extension ext;
    ext.stream_id = a.sid;
    ext.ssid_valid = a.ssv;
    ext.ssid = a.ssid;
    ext.privileged = a.priv;
    ext.instruction = a.instr;
    ext.at = a.at;
    ext.no_write = a.no_write;
    tr.set_extension(&ext);
    sc_time d = SC_ZERO_TIME;
    const sc_time start = sc_core::sc_time_stamp();
    (a.port == 0 ? dev0 : dev1)->b_transport(tr, d);
    r.elapsed = sc_core::sc_time_stamp() - start + d;
    sync_time(d);
    tr.clear_extension(&ext);
    r.resp = tr.get_response_status();
    r.ext = ext;
    return r;
  }
  dma_result read(uint32_t sid, uint64_t addr, void *data = nullptr, unsigned len = 8) {
    dma_args a;
    a.sid = sid;
    a.len = len;
    return dma(addr, a, data);
  }
  dma_result write(uint32_t sid, uint64_t addr, uint64_t value) {
    dma_args a;
    a.sid = sid;
    a.write = true;
    return dma(addr, a, &value);
  }

  // --- event queue: every record since the last call
  std::vector<event_record> events(sc_time settle = sc_time(500, SC_NS)) {
    wait(settle);
    std::vector<event_record> v;
    const uint32_t prod = static_cast<uint32_t>(reg(reg::EVTQ_PROD));
    while ((evt_cons & mask(evtq_log2 + 1)) != (prod & mask(evtq_log2 + 1))) {
      event_record r;
      mem.read(evtq + uint64_t{evt_cons & mask(evtq_log2)} * 32, r.dw, 32);
      v.push_back(r);
      evt_cons = (evt_cons + 1) & mask(evtq_log2 + 1);
    }
    set_reg(reg::EVTQ_CONS, evt_cons | (prod & reg::Q_OVFLG));
    return v;
  }
  std::vector<pri_record> pri_records(sc_time settle = sc_time(500, SC_NS)) {
    wait(settle);
    std::vector<pri_record> v;
    const uint32_t prod = static_cast<uint32_t>(reg(reg::PRIQ_PROD));
    while ((pri_cons & mask(priq_log2 + 1)) != (prod & mask(priq_log2 + 1))) {
      pri_record r;
      mem.read(priq + uint64_t{pri_cons & mask(priq_log2)} * 16, r.dw, 16);
      v.push_back(r);
      pri_cons = (pri_cons + 1) & mask(priq_log2 + 1);
    }
    set_reg(reg::PRIQ_CONS, pri_cons | (prod & reg::Q_OVFLG));
    return v;
  }

  uint64_t counter(const std::string &unit, const std::string &name) {
    const stats_group *g = smmu.stats(unit);
    return g ? g->get(name) : ~0ull;
  }
};

}  // namespace smmuv3_test
