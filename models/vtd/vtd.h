// SPDX-License-Identifier: MIT
// Intel VT-d (Intel Virtualization Technology for Directed I/O, Rev 5.0)
// DMA-remapping unit model: the module the platform instantiates. Its public
// face mirrors models/smmuv3/smmuv3.h so a platform binds both the same way.
//
//   upstream   DMA from devices (iommu_extension: requester id = stream_id,
//              PASID = ssid); each bound initiator is a port
//   downstream to memory: root/context/PASID fetches, page walks, A/D
//              updates, invalidation-queue reads, status writes, page-request
//              records, interrupt messages, translated data accesses
//   regs       the remapping hardware registers (VT-d §11.4), 4 KiB page
//   messages   ATS/PRI messages from endpoints (page requests, device-TLB
//              invalidation completions); bind_endpoint() says where page
//              group responses and device-TLB invalidations go
//
// One file per spec concept lives beside this one (regs, root_context, pasid,
// iotlb, walk, translate, fault, qi, prq, ats, diagnostics); see docs/vtd.md
// for what is modelled, the pipeline and its cycle costs.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/common/cache.h"
#include "models/common/cache_counters.h"
#include "models/common/downstream_port.h"
#include "models/common/iommu_extension.h"
#include "models/common/pcie_messages.h"
#include "models/common/stats.h"
#include "models/common/timing.h"
#include "models/common/walk.h"
#include "models/vtd/config.h"
#include "models/vtd/context.h"
#include "models/vtd/iotlb.h"
#include "models/vtd/regs.h"

namespace iommusim::models::vtd {

// A driver-bug diagnostic (docs/vtd.md "Diagnostics").
struct diag_report {
  enum class kind : uint8_t { stale_tlb };
  kind what = kind::stale_tlb;
  sc_core::sc_time time;
  uint16_t source_id = 0;
  bool pasid_valid = false;
  uint32_t pasid = 0;
  uint64_t iova = 0;
  uint64_t pa = 0;           // the leaf descriptor's address
  uint64_t old_desc = 0;     // leaf as cached
  uint64_t new_desc = 0;     // leaf in memory now
  std::string message;
};

class vtd : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<vtd> upstream;
  tlm_utils::simple_initiator_socket<vtd> downstream;
  tlm_utils::simple_target_socket<vtd> regs;
  sc_core::sc_export<iommu_message_if> messages;

  // Where page group responses and device-TLB invalidations for a requester
  // id (bus:dev.fn) go.
  void bind_endpoint(uint32_t requester_id, endpoint_message_if *ep);
  // Wired interrupts: 0 fault event, 1 page request event, 2 invalidation
  // completion event; used when the event's address register (FEADDR,
  // PEADDR, IEADDR) is 0. Pulsed: (line, true) then (line, false).
  std::function<void(unsigned line, bool asserted)> irq;
  enum irq_line : unsigned { irq_fault = 0, irq_page_request = 1, irq_inv_complete = 2 };

  vtd(sc_core::sc_module_name name, const vtd_config &cfg, timing_mode mode);
  ~vtd() override;

  const vtd_config &config() const { return cfg_; }
  const clock_domain &clock() const { return clk_; }

  // Stale-translation reports, every one kept (up to the limit), in order.
  const std::vector<diag_report> &diagnostics() const { return diag_reports_; }

  // Statistics, one group per unit: "<name>" (totals named after the Intel
  // IIO/VT-d PMU events), "<name>.iotlb", "<name>.context_cache",
  // "<name>.pasid_cache", "<name>.pwc_fs_pml4" ..., "<name>.faults",
  // "<name>.qi", "<name>.diagnostics". unit is the part after "<name>."
  // ("" for the top).
  const stats_group *stats(const std::string &unit = "") const;
  std::vector<const stats_group *> all_stats() const;

  // Register value as software would read it (no side effects, no time).
  uint64_t peek_reg(uint32_t offset, unsigned size = 4) const;

 private:
  // ---------------------------------------------------------------- plumbing
  class message_port;    // iommu_message_if (prq.cpp, ats.cpp)
  class walk_mem;        // walk_memory over `downstream` (walk.cpp)
  class pwc_view;        // walk_cache_if over the paging-structure caches (walk.cpp)
  class ss_translator;   // table_translator: second stage of first-stage tables (walk.cpp)

  // One upstream request (one page-sized piece of a transaction).
  struct txn {
    uint16_t sid = 0;            // source id (requester id)
    bool pv = false;             // PASID present
    uint32_t pasid = 0;
    uint64_t addr = 0;
    bool write = false, exec = false, priv = false;
    at_kind at = at_kind::untranslated;
    bool no_write = false;
    bool page_request = false;   // a PCIe page request (its fault record's type: T2 = 1)
  };

  // A fault found while translating (VT-d §7.1.3 fault reasons).
  struct fault_info {
    uint8_t reason = 0;          // 0 = none
    bool record = true;          // recordable (FPD clear, not a qualified fault suppressed)
    uint64_t addr = 0;           // faulting page address for the record
    fault_class cls = fault_class::other;
  };

  enum class outcome : uint8_t { translated, passthrough, fault };
  struct xl_result {
    outcome what = outcome::fault;
    iotlb_entry entry;
    uint64_t pa = 0;
    fault_info f;
  };

  // ---------------------------------------------------------------- state
  vtd_config cfg_;
  timing_mode mode_;
  clock_domain clk_;
  downstream_port down_;  // the unit's own memory accesses
  walk_timing wt_;
  std::unique_ptr<message_port> msg_port_;
  std::map<uint32_t, endpoint_message_if *> endpoints_;

  // registers (regs.cpp)
  uint32_t gcmd_ = 0, gsts_ = 0, fsts_ = 0, fectl_ = 0, fedata_ = 0, feaddr_ = 0, feuaddr_ = 0;
  uint64_t rtaddr_ = 0, ccmd_ = 0;
  uint64_t iqh_ = 0, iqt_ = 0, iqa_ = 0, iqercd_ = 0;
  uint32_t ics_ = 0, iectl_ = 0, iedata_ = 0, ieaddr_ = 0, ieuaddr_ = 0;
  uint64_t pqh_ = 0, pqt_ = 0, pqa_ = 0;
  uint32_t prs_ = 0, pectl_ = 0, pedata_ = 0, peaddr_ = 0, peuaddr_ = 0;
  uint32_t pmen_ = 0, plmbase_ = 0, plmlimit_ = 0;
  uint64_t phmbase_ = 0, phmlimit_ = 0, irta_ = 0;
  uint64_t iva_ = 0, iotlb_reg_ = 0;
  struct frcd_reg {
    uint64_t lo = 0, hi = 0;     // bits 63:0 and 127:64
  };
  std::vector<frcd_reg> frcd_;
  unsigned next_fri_ = 0;        // the next fault recording register hardware fills
  bool scalable_ = false;        // RTADDR.TTM latched by SRTP (GSTS.RTPS)
  uint64_t root_table_ = 0;      // latched root table address
  bool fault_ip_ = false;        // FECTL.IP pending
  bool inv_ip_ = false;          // IECTL.IP pending
  bool pr_ip_ = false;           // PECTL.IP pending

  // caches and resources
  std::unique_ptr<sa_cache<iotlb_entry>> iotlb_;
  std::unique_ptr<sa_cache<context_cache_entry>> ctx_cache_;
  std::unique_ptr<sa_cache<pasid_cache_entry>> pasid_cache_;
  std::vector<std::unique_ptr<sa_cache<pwc_entry>>> pwc_fs_, pwc_ss_;
  cache_counters iotlb_ctr_, ctx_cache_ctr_, pasid_cache_ctr_;
  std::vector<std::unique_ptr<cache_counters>> pwc_fs_ctr_, pwc_ss_ctr_;
  timed_resource xl_slots_, walk_slots_;
  std::unique_ptr<pt_format> fmt_fs_, fmt_ss_;

  // invalidation queue (qi.cpp)
  sc_core::sc_event qi_kick_;
  bool qi_halted_ = false;       // IQE/ITE: fetching stops until software clears FSTS
  uint32_t next_itag_ = 1;
  std::map<uint32_t, uint16_t> dtlb_pending_;  // itag -> source id
  sc_core::sc_event dtlb_done_;

  // page request queue (prq.cpp)
  std::deque<page_request> prq_pending_;
  sc_core::sc_event prq_kick_;

  std::vector<diag_report> diag_reports_;

  // statistics
  stats_group stats_, fault_stats_, qi_stats_, diag_stats_;
  latency_histogram *xl_hist_ = nullptr;

  // ---------------------------------------------------------------- behaviour
  // vtd.cpp: memory access helpers
  bool mem_read(uint64_t pa, void *dst, unsigned len, timing_ctx &t);
  bool mem_write(uint64_t pa, const void *src, unsigned len, timing_ctx &t);
  bool mem_cas(uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed, timing_ctx &t);
  bool mem_peek(uint64_t pa, void *dst, unsigned len);
  void count(const char *name, uint64_t n = 1) { stats_.counter(name) += n; }
  void publish_caches();

  // regs.cpp
  void regs_b_transport(tlm::tlm_generic_payload &tr, sc_core::sc_time &delay);
  unsigned regs_transport_dbg(tlm::tlm_generic_payload &tr);
  uint64_t cap() const;
  uint64_t ecap() const;
  uint64_t reg_read(uint32_t off, unsigned size) const;
  void reg_write(uint32_t off, unsigned size, uint64_t v, timing_ctx &t);
  void write_gcmd(uint32_t v, timing_ctx &t);
  void write_ccmd(uint64_t v, timing_ctx &t);
  void write_iotlb_reg(uint64_t v, timing_ctx &t);
  bool te() const { return gsts_ & reg::GSTS_TES; }

  // root_context.cpp: legacy and scalable root/context tables (§9.1-9.4)
  bool lookup_context(uint16_t sid, context_info *ctx, fault_info *f, timing_ctx &t);
  bool fetch_context(uint16_t sid, context_info *ctx, fault_info *f, timing_ctx &t);

  // pasid.cpp: PASID directory and table (§9.5, §9.6)
  bool lookup_pasid(uint16_t sid, const context_info &ctx, uint32_t pasid, pasid_info *pe,
                    fault_info *f, timing_ctx &t);
  bool fetch_pasid(const context_info &ctx, uint32_t pasid, pasid_info *pe, fault_info *f,
                   timing_ctx &t);

  // translate.cpp: the request pipeline (§3, §7.1)
  void upstream_b_transport(int port, tlm::tlm_generic_payload &tr, sc_core::sc_time &delay);
  unsigned upstream_transport_dbg(int port, tlm::tlm_generic_payload &tr);
  xl_result translate(const txn &x, timing_ctx &t);
  xl_result resolve_and_walk(const txn &x, const access_kind &acc, timing_ctx &t);
  void forward_data(tlm::tlm_generic_payload &tr, uint64_t pa, unsigned len, unsigned char *data,
                    timing_ctx &t);

  // walk.cpp: first/second-stage and nested walks through the shared engine
  uint64_t fs_flags(const translation_ctx &c) const;
  uint64_t ss_flags(const translation_ctx &c) const;
  unsigned ss_levels(const translation_ctx &c) const;
  uint8_t ss_fault_reason(const translation_ctx &c, const walk_result &r, int start_level,
                          const access_kind &acc) const;
  bool walk_first(const txn &x, const translation_ctx &c, const access_kind &acc,
                  iotlb_entry *e, fault_info *f, timing_ctx &t);
  bool walk_second(const translation_ctx &c, uint64_t gpa, const access_kind &acc,
                   stage_leaf *leaf, fault_info *f, timing_ctx &t);
  bool walk_nested(const txn &x, const translation_ctx &c, const access_kind &acc,
                   iotlb_entry *e, fault_info *f, timing_ctx &t);

  // fault.cpp: primary fault logging (§7.2) and fault events (§7.3)
  void record_fault(const txn &x, const fault_info &f, timing_ctx &t);
  void fault_event(timing_ctx *t);
  // An event interrupt: data written to uaddr:addr, or the wired line if 0.
  void signal(unsigned line, uint32_t data, uint32_t addr, uint32_t uaddr, timing_ctx *t);
  void pulse(unsigned line);

  // qi.cpp: queued invalidation (§6.5.2) and register-based invalidation
  using lat_t = latency_config;
  enum class qi_status : uint8_t { ok, invalid, timeout };
  void qi_thread();
  qi_status qi_execute(const uint64_t desc[4], timing_ctx &t);
  qi_status qi_wait(const uint64_t desc[4], timing_ctx &t);
  void raise_fsts(uint32_t bits, timing_ctx *t);
  uint64_t do_context_inv(unsigned gran, uint16_t did, uint16_t sid, unsigned fm);
  uint64_t do_iotlb_inv(unsigned gran, uint16_t did, uint64_t addr, unsigned am, bool ih);
  uint64_t invalidate_iotlb(const std::function<bool(const iotlb_entry &)> &pred);
  uint64_t invalidate_pwc(const std::function<bool(const pwc_entry &)> &pred);
  uint64_t invalidate_context(const std::function<bool(const context_cache_entry &)> &pred);
  uint64_t invalidate_pasid_cache(const std::function<bool(const pasid_cache_entry &)> &pred);
  void send_dev_tlb_inv(uint16_t sid, bool pv, uint32_t pasid, uint64_t addr, bool size,
                        bool global, timing_ctx &t);

  // prq.cpp: page request queue (§7.4-7.6)
  void page_request_in(const page_request &req, sc_core::sc_time &delay);
  void prq_thread();
  void page_group_response(const uint64_t desc[4], timing_ctx &t);

  // ats.cpp: device-TLB translation requests and invalidation completions (§4)
  void ats_complete(tlm::tlm_generic_payload &tr, iommu_extension &ext, const txn &x,
                    const xl_result &r);
  void dtlb_complete_in(uint32_t sid, uint32_t itag, sc_core::sc_time &delay);

  // diagnostics.cpp
  void check_stale(const txn &x, const iotlb_entry &e);
};

}  // namespace iommusim::models::vtd
