// SPDX-License-Identifier: MIT
// The one page-table walk engine of both IOMMUs. It does what every format
// shares — index a table, fetch a descriptor through a memory port (timed),
// consult and fill walk caches, translate table addresses through another
// stage (nesting), update descriptors atomically (hardware access/dirty
// flags), account every fetch — and asks a pt_format decoder for what a
// format means (VMSAv8-64 stage 1/2 in models/common/vmsav8.h; x86 first and
// second stage for VT-d).
//
// Walk steps (numbered as the comments in walk.cpp):
//  1. Resume point: the walk cache may return the deepest cached table for the
//     input address; otherwise start at start_level at ttb (a stage-2 start
//     level may be a concatenation of tables).
//  2. Table address: if a table_translator is given (nested stage 1), translate
//     the table's IPA to a PA first; a fault there ends the walk (s2_fault).
//  3. Fetch the descriptor (8 bytes) at table + index * 8; a failed read is an
//     external abort.
//  4. Decode: invalid -> translation fault; table -> (if the format asks,
//     update the table descriptor atomically, as in step 5) fill the walk
//     cache, go down a level; block/page -> leaf.
//  5. Leaf: the format checks permissions and flags for the access; if it asks
//     for an update (access flag, dirty state) the engine performs it as a
//     64-bit compare-and-swap and retries the check if the descriptor changed
//     under it.
#pragma once

#include <cstdint>

#include "timing.h"

namespace iommusim::models {

enum class walk_fault : uint8_t {
  none = 0,
  translation,     // invalid descriptor / input out of range
  address_size,    // output or table address beyond OAS
  access_flag,     // AF == 0 without hardware update
  permission,      // the access is not allowed
  external_abort,  // a descriptor fetch or update failed
  reserved,        // reserved/non-zero bits (x86 formats)
};
const char *to_string(walk_fault f);

struct access_kind {
  bool write = false;
  bool exec = false;
  bool priv = false;
};

// What a format needs to know beyond the input address.
struct walk_params {
  uint64_t ttb = 0;           // base of the start-level table (PA, or IPA when nested)
  int start_level = 0;
  unsigned ias = 48;          // input address bits
  unsigned oas = 48;          // output address bits
  unsigned granule_shift = 12;  // 12, 14, 16
  unsigned concat = 1;        // tables concatenated at the start level (stage 2)
  bool ha = false;            // hardware updates the access flag
  bool hd = false;            // hardware updates dirty state (DBM)
  uint64_t format_flags = 0;  // meaning defined by the format
};

// Per-walk state a format carries down the levels (hierarchical attributes).
// All zero means "no restriction": a walk resumed from the walk cache starts
// from walk_state{}, so the engine caches only tables reached with it.
struct walk_state {
  uint64_t a = 0, b = 0;
};

struct pt_step {
  enum class what : uint8_t { fault, table, leaf } kind = what::fault;
  walk_fault fault = walk_fault::translation;
  uint64_t next = 0;  // table: the next table's address
  // table: write new_desc with compare-and-swap before descending (x86
  // first stage sets A in every paging-structure entry it uses).
  bool update = false;
  uint64_t new_desc = 0;
};

// A leaf's translation as the IOMMU uses it.
struct translation {
  uint64_t out_addr = 0;     // output address of the page/block (aligned)
  unsigned page_shift = 12;  // log2 of the page/block size
  bool read = false, write = false, exec = false;
  bool priv_only = false;    // user (unprivileged) access not allowed
  uint64_t attrs = 0;        // memory attributes, format defined
};

struct leaf_check {
  walk_fault fault = walk_fault::none;
  bool update = false;        // write new_desc with compare-and-swap (HTTU)
  uint64_t new_desc = 0;
  translation xlate;
};

class pt_format {
 public:
  virtual ~pt_format() = default;
  virtual const char *name() const = 0;
  // Deepest level (the last level that can hold a page).
  virtual int last_level(const walk_params &p) const = 0;
  // log2 of the bytes one descriptor at level maps.
  virtual unsigned level_shift(int level, const walk_params &p) const = 0;
  // Index of ia's descriptor in the table at level (at the start level this
  // spans the concatenated tables).
  virtual uint64_t index(int level, uint64_t ia, const walk_params &p) const = 0;
  // Input addresses out of range fault before any fetch.
  virtual bool input_in_range(uint64_t ia, const walk_params &p) const = 0;
  virtual pt_step decode(int level, uint64_t desc, walk_state &st, const walk_params &p) const = 0;
  virtual leaf_check check_leaf(int level, uint64_t desc, const walk_state &st,
                                const access_kind &acc, const walk_params &p) const = 0;
};

// The memory a walker reads tables from (the IOMMU's table-walk port).
class walk_memory {
 public:
  virtual ~walk_memory() = default;
  virtual bool read64(uint64_t pa, uint64_t *value, timing_ctx &t) = 0;
  // false only if the access failed; *observed = the value before; the swap
  // happened if and only if *observed == expected.
  virtual bool cas64(uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed,
                     timing_ctx &t) = 0;
};

// Walk caches of one stage and context: remember, per level, the address of
// the table that translates an input-address prefix.
class walk_cache_if {
 public:
  virtual ~walk_cache_if() = default;
  // The deepest level whose table for ia is cached, and that table's address.
  virtual bool lookup(uint64_t ia, int *level, uint64_t *table, timing_ctx &t) = 0;
  // The table at level for ia is at table.
  virtual void fill(int level, uint64_t ia, uint64_t table) = 0;
};

struct walk_result;

// Translates the table addresses of a stage-1 walk (nested: stage 2).
class table_translator {
 public:
  virtual ~table_translator() = default;
  virtual walk_result translate_table(uint64_t ipa, timing_ctx &t) = 0;
};

struct walk_result {
  walk_fault fault = walk_fault::none;
  int level = 0;              // level of the leaf, or where the fault was found
  bool s2_fault = false;      // the fault came from translating a table address
  uint64_t fault_ipa = 0;     // that table's IPA
  translation xlate;
  uint64_t leaf_desc_pa = 0;  // where the leaf descriptor is (HTTU, stale-TLB diagnostic)
  uint64_t leaf_desc = 0;     // the leaf descriptor as used
  unsigned fetches = 0;       // descriptor reads done (all stages)
  unsigned updates = 0;       // descriptor writes done (HTTU)
  int resume_level = -1;      // level the walk cache let the walk start at (-1: no hit)
};

struct walk_timing {
  uint32_t step_cycles = 1;   // decode and index per level, besides the fetch
};

class walk_engine {
 public:
  static walk_result walk(const pt_format &fmt, const walk_params &p, uint64_t ia,
                          const access_kind &acc, walk_memory &mem, walk_cache_if *cache,
                          table_translator *s2, const clock_domain &clk, const walk_timing &wt,
                          timing_ctx &t);
};

}  // namespace iommusim::models
