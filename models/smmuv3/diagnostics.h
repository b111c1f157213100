// SPDX-License-Identifier: MIT
// Driver-bug diagnostics no peer model offers (docs/smmuv3.md, "Diagnostics"):
//
//  stale_tlb       a DMA was served by a TLB entry whose leaf descriptor in
//                  memory now gives another translation (output address,
//                  permissions or validity) and no invalidation removed the
//                  entry. Access-flag and dirty-state changes (hardware or
//                  software) are not stale.
//  unsynced_reuse  a TLBI removed entries (an "unmap") but before a CMD_SYNC
//                  completed, a DMA, a table walk or a TLB fill used one of
//                  their output pages for another mapping: the page was
//                  reused while the SMMU could still have been using it.
//
// Each report is counted, kept (up to a limit) and printed once at warning
// level (SC_REPORT_WARNING).
#pragma once

#include <systemc>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "models/common/stats.h"

namespace iommusim::models::smmuv3 {

struct diag_report {
  enum class kind : uint8_t { stale_tlb, unsynced_reuse };
  kind what = kind::stale_tlb;
  sc_core::sc_time time;
  uint32_t stream_id = 0;
  bool ssid_valid = false;
  uint32_t ssid = 0;
  uint64_t iova = 0;
  uint64_t pa = 0;           // stale: the leaf descriptor's address; unsynced: the reused page
  uint64_t old_desc = 0;     // stale: cached leaf; unsynced: the unmapped entry's leaf
  uint64_t new_desc = 0;     // stale: leaf in memory now; unsynced: the new user's leaf (0 for a walk)
  const char *used_by = "";  // unsynced: "dma", "walk" or "fill"
  std::string message;
};

// What an unmap (a TLBI that removed an entry) leaves behind until CMD_SYNC.
struct unsynced_record {
  uint64_t pa = 0;            // output page range [pa, pa + size)
  uint64_t size = 0;
  uint8_t kind = 0;           // identity of the removed mapping
  uint8_t world = 0;
  uint16_t vmid = 0, asid = 0;
  uint64_t ia = 0;
  uint64_t desc = 0;
  uint64_t seq = 0;           // order of the TLBI
  bool reported = false;
};

class diag_engine {
 public:
  void configure(bool stale, bool unsynced, size_t max_reports, size_t max_records) {
    stale_on_ = stale;
    unsynced_on_ = unsynced;
    max_reports_ = max_reports;
    max_records_ = max_records;
  }
  bool stale_enabled() const { return stale_on_; }
  bool unsynced_enabled() const { return unsynced_on_; }
  void set_stats(stats_group *g) { stats_ = g; }

  // True if the descriptor in memory gives another translation than the
  // cached one (VMSAv8-64 leaf: validity, output address, AP/S2AP, XN/PXN;
  // AF and dirty state ignored). stage2 selects the stage-2 format.
  static bool translation_differs(uint64_t cached, uint64_t now, int level, unsigned page_shift,
                                  bool stage2);

  void report(diag_report r);
  const std::vector<diag_report> &reports() const { return reports_; }

  // Unsynced unmaps.
  void open_record(const unsynced_record &r);
  // A CMD_SYNC completed: every record opened before it (all of them, as
  // commands complete in order) is closed.
  void close_records() { records_.clear(); max_size_ = 0; }
  uint64_t next_seq() { return ++seq_; }
  bool has_open_records() const { return !records_.empty(); }
  size_t open_records() const { return records_.size(); }
  // The first open, unreported record whose page range overlaps [pa, pa +
  // len) and whose mapping is not `same` (nullptr: any mapping conflicts).
  unsynced_record *find_conflict(uint64_t pa, uint64_t len, const unsynced_record *same);

 private:
  bool stale_on_ = true, unsynced_on_ = true;
  size_t max_reports_ = 4096, max_records_ = 65536;
  stats_group *stats_ = nullptr;
  std::vector<diag_report> reports_;
  std::set<std::tuple<int, uint32_t, uint32_t, uint64_t, uint64_t, uint64_t>> printed_;
  std::multimap<uint64_t, unsynced_record> records_;  // by page address
  uint64_t max_size_ = 0;                             // largest open record
  uint64_t seq_ = 0;
};

}  // namespace iommusim::models::smmuv3
