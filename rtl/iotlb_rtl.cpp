// SPDX-License-Identifier: MIT
// The cycle-level driver of the Verilated IOTLB (iotlb_rtl.h).
#include "rtl/iotlb_rtl.h"

#include <verilated.h>
#include <verilated_fst_c.h>

#include <bit>
#include <stdexcept>

#include "Viotlb.h"

namespace iommusim::rtl {

int iotlb_size_class(unsigned page_shift) {
  for (unsigned c = 0; c < iotlb_size_shifts.size(); c++)
    if (iotlb_size_shifts[c] == page_shift) return static_cast<int>(c);
  return -1;
}

struct iotlb_rtl::impl {
  VerilatedContext ctx;
  std::unique_ptr<Viotlb> top;
  std::unique_ptr<VerilatedFstC> fst;
  uint64_t time = 0;  // half cycles, for the waveform

  void settle() {
    top->eval();
    if (fst) fst->dump(time);
  }
};

iotlb_rtl::iotlb_rtl(const iotlb_params &p) : m_(std::make_unique<impl>()), p_(p) {
  if (!std::has_single_bit(p.sets) || p.sets > iotlb_max_sets || p.lookup_latency < 1 ||
      p.lookup_latency > iotlb_max_latency || p.inv_cycles_per_set < 1 ||
      p.inv_cycles_per_set > 255)
    throw std::invalid_argument("iotlb_rtl: parameters outside the Verilated model's range");
  if (!p.trace_path.empty()) m_->ctx.traceEverOn(true);
  m_->top = std::make_unique<Viotlb>(&m_->ctx, "iotlb");
  if (!p.trace_path.empty()) {
    m_->fst = std::make_unique<VerilatedFstC>();
    m_->top->trace(m_->fst.get(), 99);
    m_->fst->open(p.trace_path.c_str());
  }
  Viotlb &t = *m_->top;
  t.cfg_sets_log2 = static_cast<uint8_t>(std::countr_zero(p.sets));
  t.cfg_policy = p.round_robin ? 1 : 0;
  t.cfg_lat = static_cast<uint8_t>(p.lookup_latency);
  t.cfg_inv_cps = static_cast<uint8_t>(p.inv_cycles_per_set);
  t.cfg_flash = p.flash ? 1 : 0;
  idle();
  t.clk = 0;
  t.rst_n = 0;
  m_->settle();
  for (int i = 0; i < 2; i++) {
    t.clk = 1;
    m_->time++;
    m_->settle();
    t.clk = 0;
    m_->time++;
    m_->settle();
  }
  t.rst_n = 1;
  m_->top->eval();  // same time stamp as the last dump: no second dump
}

iotlb_rtl::~iotlb_rtl() {
  if (m_->fst) m_->fst->close();
  m_->top->final();
}

void iotlb_rtl::drive_lookup(const lookup_req &r) {
  Viotlb &t = *m_->top;
  t.lk_valid = r.valid;
  t.lk_id = r.id;
  t.lk_ctx = r.key.ctx;
  t.lk_asid = r.key.asid & 0xFFFFFu;
  t.lk_vmid = r.key.vmid;
  t.lk_va = r.key.va;
  t.lk_nprobes = static_cast<uint8_t>(r.nprobes);
  // lk_sets: probe p at bits [p*9 +: 9] of a 72-bit vector (three 32-bit words).
  constexpr unsigned set_bits = 9;
  uint32_t w[3] = {0, 0, 0};
  for (unsigned p = 0; p < iotlb_probes; p++) {
    const uint64_t v = r.sets[p] & ((1u << set_bits) - 1);
    const unsigned bit = p * set_bits;
    w[bit / 32] |= static_cast<uint32_t>(v << (bit % 32));
    if (bit % 32 + set_bits > 32) w[bit / 32 + 1] |= static_cast<uint32_t>(v >> (32 - bit % 32));
  }
  for (unsigned i = 0; i < 3; i++) t.lk_sets[i] = w[i];
}

void iotlb_rtl::drive_fill(const fill_req &r) {
  Viotlb &t = *m_->top;
  t.fl_valid = r.valid;
  t.fl_set = static_cast<uint16_t>(r.set);
  t.fl_ctx = r.tag.ctx;
  t.fl_asid = r.tag.asid & 0xFFFFFu;
  t.fl_vmid = r.tag.vmid;
  t.fl_global = r.tag.global;
  t.fl_size = r.tag.size_class & 7u;
  t.fl_vpage = r.tag.vpage & ((uint64_t{1} << 52) - 1);
  t.fl_opage = r.data.opage & ((uint64_t{1} << 52) - 1);
  t.fl_perm = r.data.perm & 0xFu;
  t.fl_attr = r.data.attr;
}

void iotlb_rtl::drive_invalidate(const inv_req &r) {
  Viotlb &t = *m_->top;
  t.inv_valid = r.valid;
  t.inv_op = static_cast<uint8_t>(r.op);
  t.inv_ctx_en = r.ctx_en;
  t.inv_asid_en = r.asid_en;
  t.inv_global = r.global;
  t.inv_vmid_en = r.vmid_en;
  t.inv_ctx = r.ctx;
  t.inv_asid = r.asid & 0xFFFFFu;
  t.inv_vmid = r.vmid;
  t.inv_lo = r.lo;
  t.inv_hi = r.hi;
}

void iotlb_rtl::drive_ext_kill(uint64_t mask) {
  m_->top->inv_ext_kill = static_cast<uint8_t>(mask & ((1u << iotlb_ways) - 1));
}

void iotlb_rtl::idle() {
  Viotlb &t = *m_->top;
  t.lk_valid = 0;
  t.fl_valid = 0;
  t.inv_valid = 0;
}

void iotlb_rtl::eval() { m_->top->eval(); }

bool iotlb_rtl::ready() const { return m_->top->lk_ready; }
bool iotlb_rtl::inv_ready() const { return m_->top->inv_ready; }
bool iotlb_rtl::inv_busy() const { return m_->top->inv_busy; }
bool iotlb_rtl::inv_done() const { return m_->top->inv_done; }
uint32_t iotlb_rtl::inv_count() const { return m_->top->inv_count; }
uint32_t iotlb_rtl::sweep_set() const { return m_->top->inv_sweep_set; }

iotlb_rtl::fill_rsp iotlb_rtl::fill_result() const {
  const Viotlb &t = *m_->top;
  return fill_rsp{t.fl_way, t.fl_evict != 0, t.fl_inplace != 0};
}

iotlb_rtl::lookup_rsp iotlb_rtl::response() const {
  const Viotlb &t = *m_->top;
  lookup_rsp r;
  r.valid = t.rsp_valid;
  r.id = t.rsp_id;
  r.hit = t.rsp_hit;
  r.set = t.rsp_set;
  r.way = t.rsp_way;
  r.probe = t.rsp_probe;
  r.size_class = t.rsp_size;
  r.data.opage = t.rsp_opage;
  r.data.perm = t.rsp_perm;
  r.data.attr = t.rsp_attr;
  return r;
}

void iotlb_rtl::step() {
  Viotlb &t = *m_->top;
  t.clk = 1;
  m_->time++;
  m_->settle();
  // A request lasts one cycle: drop it before the falling edge, so the
  // comparators (gated by the valids) do not evaluate it again.
  idle();
  t.clk = 0;
  m_->time++;
  m_->settle();
  cycle_++;
  // A model inside a platform may never be destroyed (SystemC keeps its
  // modules to the end of the process): flush the waveform now and then so
  // the file is readable up to the last flush.
  constexpr uint64_t flush_every = 4096;
  if (m_->fst && cycle_ % flush_every == 0) m_->fst->flush();
}

}  // namespace iommusim::rtl
