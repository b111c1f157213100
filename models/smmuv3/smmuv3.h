// SPDX-License-Identifier: MIT
// Arm SMMUv3 (IHI 0070) model: the module the platform instantiates.
//
//   upstream   DMA from devices; each bound initiator is a port; a port feeds
//              one TBU (micro TLB + translation slots)
//   downstream to memory: table walks, STE/CD fetches, queue and MSI writes,
//              HTTU compare-and-swap, and the translated data accesses
//   regs       register pages 0 and 1 (offsets 0x0 .. 0x1ffff)
//   messages   PRI page requests and ATC-invalidation completions from
//              endpoints; bind_endpoint() says where responses go
//
// One file per spec concept lives beside this one (regs, strtab/ste, cd, tlb,
// tcu_walk, cmdq, evtq, priq, ats, httu, stall, gerror, diagnostics); see
// docs/smmuv3.md for what is modelled, the pipeline and its cycle costs.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "models/common/cache.h"
#include "models/common/cache_counters.h"
#include "models/common/downstream_port.h"
#include "models/common/iommu_extension.h"
#include "models/common/pcie_messages.h"
#include "models/common/stats.h"
#include "models/common/timing.h"
#include "models/common/walk.h"
#include "models/smmuv3/cd.h"
#include "models/smmuv3/config.h"
#include "models/smmuv3/cmdq.h"
#include "models/smmuv3/diagnostics.h"
#include "models/smmuv3/evtq.h"
#include "models/smmuv3/regs.h"
#include "models/smmuv3/ste.h"
#include "models/smmuv3/tlb.h"

namespace iommusim::models::smmuv3 {

class smmuv3 : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<smmuv3> upstream;
  tlm_utils::simple_initiator_socket<smmuv3> downstream;
  tlm_utils::simple_target_socket<smmuv3> regs;
  sc_core::sc_export<iommu_message_if> messages;

  // Where page responses and ATC invalidations for a StreamID go.
  void bind_endpoint(uint32_t stream_id, endpoint_message_if *ep);
  // Wired interrupts: 0 event queue, 1 PRI queue, 2 CMD_SYNC, 3 GERROR; used
  // when the source's MSI address is 0 (or IDR0.MSI is 0). Pulsed: (line,
  // true) then (line, false).
  std::function<void(unsigned line, bool asserted)> irq;
  enum irq_line : unsigned { irq_eventq = 0, irq_priq = 1, irq_cmd_sync = 2, irq_gerror = 3 };

  smmuv3(sc_core::sc_module_name name, const smmuv3_config &cfg, timing_mode mode);
  ~smmuv3() override;

  const smmuv3_config &config() const { return cfg_; }
  const clock_domain &clock() const { return clk_; }

  // Diagnostics (stale TLB entries, unsynced unmaps): every report kept, in order.
  const std::vector<diag_report> &diagnostics() const { return diag_.reports(); }

  // Statistics, one group per unit: "<name>" (PMCG-style totals),
  // "<name>.tbuN.utlb", "<name>.tcu.main_tlb", "<name>.tcu.cfg_cache",
  // "<name>.tcu.wc_s1_l0" ..., "<name>.events", "<name>.commands",
  // "<name>.diagnostics". unit is the part after "<name>." ("" for the top).
  const stats_group *stats(const std::string &unit = "") const;
  std::vector<const stats_group *> all_stats() const;

  // Register value as software would read it (no side effects, no time).
  uint64_t peek_reg(uint32_t offset, unsigned size = 4) const;

 private:
  // ---------------------------------------------------------------- plumbing
  class message_port;    // iommu_message_if for `messages` (priq.cpp, ats.cpp)
  class walk_mem;        // walk_memory over `downstream` (tcu_walk.cpp, httu.cpp)
  class walk_cache_view; // walk_cache_if over the per-level walk caches (tcu_walk.cpp)
  class s2_translator;   // table_translator: stage 2 of stage-1 table IPAs (tcu_walk.cpp)

  struct tbu_state {
    std::unique_ptr<sa_cache<utlb_entry>> utlb;
    timed_resource slots;
    cache_counters counters;
  };

  // One upstream request (one page-sized piece of a transaction).
  struct txn {
    uint32_t sid = 0;
    bool ssv = false;
    uint32_t ssid = 0;
    uint64_t addr = 0;
    bool write = false, exec = false, priv = false;
    at_kind at = at_kind::untranslated;
    bool no_write = false;
    unsigned tbu = 0;
  };

  // A fault found while translating, and what to do about it.
  struct fault_info {
    uint8_t event = 0;           // event id; 0 = none
    bool record = true;          // write an event record
    bool s2 = false;
    unsigned cls = 2;            // evt_class
    uint64_t ipa = 0;
    uint64_t fetch_addr = 0;
    bool ttrnw = true;
    bool stall = false;          // the stall model applies
    bool abort = true;           // terminate with abort (else RAZ/WI)
    bool silent = false;         // terminate without an event (STE abort, GBPA abort, ATS UR/CA)
    bool pnu = false, ind = false;  // the access, after STE.PRIVCFG/INSTCFG
    fault_class cls_for_device = fault_class::other;
  };

  enum class outcome : uint8_t { translated, bypass, fault };
  struct xl_result {
    outcome what = outcome::fault;
    xl_entry entry;              // translated: the translation used
    uint64_t pa = 0;             // output address of txn.addr
    unsigned page_shift = 12;
    bool ats_r = true, ats_w = true, ats_x = true;  // ATS completion permissions
    bool stalled = false;        // the fault stalled, then was terminated
    fault_info f;
  };

  struct cfg_result {
    bool ok = false;
    stream_ctx ctx;
    fault_info f;
  };

  // ---------------------------------------------------------------- state
  smmuv3_config cfg_;
  timing_mode mode_;
  clock_domain clk_;
  downstream_port down_;  // the unit's own memory accesses
  walk_timing wt_;
  std::unique_ptr<message_port> msg_port_;
  std::map<uint32_t, endpoint_message_if *> endpoints_;

  // registers (regs.cpp)
  struct queue_regs {
    uint64_t base = 0;
    uint32_t prod = 0, cons = 0;
    uint64_t irq_cfg0 = 0;
    uint32_t irq_cfg1 = 0, irq_cfg2 = 0;
    unsigned max_log2 = 0;       // IDR1 limit
    unsigned entry_bytes = 16;
    unsigned log2() const;
    uint64_t addr() const;
    uint32_t index_mask() const { return (1u << log2()) - 1; }
    uint32_t wrap_mask() const { return (1u << (log2() + 1)) - 1; }  // index and wrap bit
    uint64_t slot_addr(uint32_t ptr) const { return addr() + uint64_t{ptr & index_mask()} * entry_bytes; }
    bool empty() const { return ((prod ^ cons) & wrap_mask()) == 0; }
    bool full() const { return ((prod ^ cons) & wrap_mask()) == (1u << log2()); }
  };
  uint32_t cr0_ = 0, cr1_ = 0, cr2_ = 0, gbpa_ = 0, irq_ctrl_ = 0, gerror_ = 0, gerrorn_ = 0;
  uint64_t gerror_irq_cfg0_ = 0;
  uint32_t gerror_irq_cfg1_ = 0, gerror_irq_cfg2_ = 0;
  uint64_t strtab_base_ = 0;
  uint32_t strtab_base_cfg_ = 0;
  queue_regs cmdq_, evtq_, priq_;

  // caches and resources
  std::vector<std::unique_ptr<tbu_state>> tbus_;
  std::unique_ptr<sa_cache<main_tlb_entry>> main_tlb_;
  std::unique_ptr<sa_cache<cfg_entry>> cfg_cache_;
  std::vector<std::unique_ptr<sa_cache<wc_entry>>> wc_s1_, wc_s2_;
  cache_counters main_tlb_ctr_, cfg_cache_ctr_;
  std::vector<std::unique_ptr<cache_counters>> wc_s1_ctr_, wc_s2_ctr_;
  timed_resource walk_slots_;
  std::unique_ptr<pt_format> fmt_s1_, fmt_s2_;

  // command queue (cmdq.cpp)
  sc_core::sc_event cmdq_kick_;
  bool cmdq_halted_ = false;     // CMDQ_ERR raised, waiting for GERRORN
  uint32_t next_itag_ = 1;
  struct atc_pending {
    uint32_t sid = 0;
    uint64_t seq = 0;            // command sequence number of the ATC_INV
  };
  std::map<uint32_t, atc_pending> atc_pending_;  // by itag
  sc_core::sc_event atc_done_;
  uint64_t cmd_seq_ = 0;
  // CMD_SYNC waits for data accesses translated before it (§4.7.3)
  uint64_t sync_epoch_ = 0;
  std::map<uint64_t, unsigned> inflight_;
  sc_core::sc_event inflight_done_;

  // event queue (evtq.cpp)
  std::deque<event_record> evt_pending_;   // stall and non-stall records, in order
  sc_core::sc_event evtq_kick_, evtq_drained_;
  bool evtq_busy_ = false;

  // PRI queue (priq.cpp)
  std::deque<page_request> pri_pending_;
  sc_core::sc_event priq_kick_;

  // stall model (stall.cpp)
  struct stalled {
    uint16_t stag = 0;
    uint32_t sid = 0;
    int action = -1;             // resume_ac once resolved
    bool event_written = false;
    sc_core::sc_event resolved;
  };
  std::map<uint16_t, stalled *> stalled_;
  uint16_t next_stag_ = 0;

  diag_engine diag_;

  // statistics
  stats_group stats_, evt_stats_, cmd_stats_, diag_stats_;
  latency_histogram *xl_hist_ = nullptr;

  // ---------------------------------------------------------------- behaviour
  // smmuv3.cpp: ports, memory access helpers
  unsigned tbu_of_port(int port) const;
  bool mem_read(uint64_t pa, void *dst, unsigned len, timing_ctx &t);
  bool mem_write(uint64_t pa, const void *src, unsigned len, timing_ctx &t);
  bool mem_cas(uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed, timing_ctx &t);
  bool mem_peek(uint64_t pa, void *dst, unsigned len);
  // name is always a string literal (a stable address): the counter is found
  // by that address after its first use, not by a string compare per event.
  void count(const char *name, uint64_t n = 1) {
    uint64_t *&c = counter_of_[name];
    if (!c) c = &stats_.counter(name);  // std::map nodes never move
    *c += n;
  }
  std::unordered_map<const char *, uint64_t *> counter_of_;

  // regs.cpp
  void regs_b_transport(tlm::tlm_generic_payload &tr, sc_core::sc_time &delay);
  unsigned regs_transport_dbg(tlm::tlm_generic_payload &tr);
  uint32_t idr(unsigned n) const;
  uint64_t reg_read(uint32_t off, unsigned size) const;
  void reg_write(uint32_t off, unsigned size, uint64_t v, timing_ctx &t);
  void write_cr0(uint32_t v, timing_ctx &t);
  bool smmuen() const { return cr0_ & reg::CR0_SMMUEN; }

  // translate.cpp: the TBU/TCU pipeline
  void upstream_b_transport(int port, tlm::tlm_generic_payload &tr, sc_core::sc_time &delay);
  unsigned upstream_transport_dbg(int port, tlm::tlm_generic_payload &tr);
  xl_result translate(const txn &x, timing_ctx &t);
  xl_result translate_disabled(const txn &x);
  xl_result translate_untranslated(const txn &x, timing_ctx &t);
  xl_result tcu_path(const txn &x, bool force_walk, timing_ctx &t, stream_ctx *ctx_out);
  xl_result tcu_translate(const txn &x, const stream_ctx &ctx, const access_kind &acc,
                          bool force_walk, timing_ctx &t);
  xl_result translated_result(const txn &x, const xl_entry &e) const;
  void fill_utlb(const txn &x, const xl_entry &e, const stream_ctx &ctx, timing_ctx &t);
  void decide_fault_handling(fault_info &f, const stream_ctx *ctx, bool ats_request);
  event_record make_record(const txn &x, const fault_info &f) const;
  void finish_fault(const txn &x, fault_info &f, timing_ctx &t, int *stall_action);
  void forward_data(tlm::tlm_generic_payload &tr, uint64_t pa, unsigned len, unsigned char *data,
                    timing_ctx &t);

  // strtab.cpp / cd.cpp: configuration lookup
  cfg_result lookup_config(uint32_t sid, bool ssv, uint32_t ssid, timing_ctx &t);
  cfg_result fetch_config(uint32_t sid, bool ssv, uint32_t ssid, timing_ctx &t);
  bool fetch_ste(uint32_t sid, ste_info *ste, fault_info *f, timing_ctx &t);
  bool fetch_cd(const ste_info &ste, uint32_t sid, bool ssv, uint32_t ssid, uint32_t index,
                cd_info *cd, fault_info *f, timing_ctx &t);
  bool read_config_struct(uint64_t addr, bool ipa, const ste_info &ste, void *dst, unsigned len,
                          fault_info *f, uint8_t fetch_event, timing_ctx &t);

  // tcu_walk.cpp: walks through the shared engine
  walk_params s1_params(const stream_ctx &ctx, uint64_t va, int *ttbr, uint64_t *ia) const;
  walk_params s2_params(const stream_ctx &ctx) const;
  walk_result walk_stage1(const stream_ctx &ctx, uint64_t va, const access_kind &acc,
                          stage_leaf *leaf, fault_info *f, timing_ctx &t);
  walk_result walk_stage2(const stream_ctx &ctx, uint64_t ipa, const access_kind &acc,
                          stage_leaf *leaf, fault_info *f, unsigned cls, timing_ctx &t);
  bool stage2_translate(const stream_ctx &ctx, uint64_t ipa, const access_kind &acc,
                        stage_leaf *leaf, fault_info *f, unsigned cls, timing_ctx &t);
  bool stage2_lookup_or_walk(const stream_ctx &ctx, uint64_t ipa, const access_kind &acc,
                             uint64_t *pa, fault_info *f, unsigned cls, timing_ctx &t);
  bool tcu_walk(const txn &x, const stream_ctx &ctx, const access_kind &acc, main_tlb_entry *out,
                fault_info *f, timing_ctx &t);
  static void fault_from_walk(const walk_result &r, bool stage2, unsigned cls, uint64_t ipa,
                              fault_info *f);

  // cmdq.cpp
  void cmdq_thread();
  uint8_t execute(const command &c, timing_ctx &t);
  uint8_t do_prefetch(const command &c, timing_ctx &t);
  uint8_t do_cfgi(const command &c, timing_ctx &t);
  uint8_t do_tlbi(const command &c, timing_ctx &t);
  uint8_t do_sync(const command &c, timing_ctx &t);
  uint64_t invalidate_tlbs(const std::function<bool(const xl_entry &)> &pred, bool record_unmap);
  uint64_t invalidate_walk_caches(int stage, const std::function<bool(const wc_entry &)> &pred);
  uint64_t invalidate_config(const std::function<bool(const cfg_key &)> &pred);

  // evtq.cpp
  void record_event(const event_record &r);
  void evtq_thread();
  void wait_events_visible();

  // priq.cpp
  void page_request_in(const page_request &req, sc_core::sc_time &delay);
  void priq_thread();
  void auto_page_response(const page_request &req);

  // ats.cpp
  xl_result ats_request(const txn &x, timing_ctx &t);
  void ats_complete(tlm::tlm_generic_payload &tr, iommu_extension &ext, const xl_result &r);
  xl_result translate_translated(const txn &x, timing_ctx &t);
  void atc_complete_in(uint32_t sid, uint32_t itag, sc_core::sc_time &delay);
  uint8_t do_atc_inv(const command &c, timing_ctx &t);
  uint8_t do_pri_resp(const command &c, timing_ctx &t);

  // stall.cpp
  int stall_transaction(const txn &x, event_record rec, timing_ctx &t);
  uint8_t do_resume(const command &c, timing_ctx &t);
  uint8_t do_stall_term(const command &c, timing_ctx &t);
  void terminate_all_stalls();

  // gerror.cpp: global errors, interrupts and MSIs
  void raise_gerror(uint32_t bits, timing_ctx *t);
  void gerrorn_written(uint32_t before);
  void signal_irq(unsigned line, uint64_t msi_cfg0, uint32_t msi_data, uint32_t msi_abt_bit,
                  timing_ctx *t);
  bool send_msi(uint64_t addr, uint32_t data, timing_ctx &t);
  void pulse(unsigned line);

  // diagnostics.cpp
  void check_stale(const txn &x, const xl_entry &e);
  void check_unsynced_dma(const txn &x, const xl_result &r, uint64_t len);
  void check_unsynced_fill(const xl_entry &e);
  void check_unsynced_walk(uint64_t desc_pa);
};

}  // namespace iommusim::models::smmuv3
