// SPDX-License-Identifier: MIT
// The walk engine (walk.h). Steps are numbered as in walk.h.
//
// Conventions the engine relies on, for the authors of walk_memory,
// walk_cache_if and pt_format implementations:
//  - walk_memory::cas64 returns false only if the access itself failed (an
//    external abort). *observed is the value memory held before the
//    operation; the swap happened if and only if *observed == expected.
//    (An implementation returning "swapped" instead is handled too: a false
//    return with *observed != expected is read as "changed under us".)
//  - The walk cache holds table addresses in the walk's own input space
//    (an IPA for a nested stage-1 walk): a resumed walk still translates the
//    resumed table's descriptor address through stage 2.
//  - walk_state{} (all zero) means "no hierarchical restriction". A resumed
//    walk starts from walk_state{}, so the engine fills the walk cache only
//    with tables reached with an all-zero state; a table below a restricting
//    APTable/XNTable is walked from the top each time. (walk_cache_if keeps
//    only addresses, not attributes.)
#include "walk.h"

namespace iommusim::models {

namespace {

// A descriptor that keeps changing under a hardware update is given up on
// after this many compare-and-swap attempts (an external abort), so a
// misbehaving agent cannot hang the walker.
constexpr unsigned max_cas_attempts = 8;

bool zero_state(const walk_state &s) { return s.a == 0 && s.b == 0; }

}  // namespace

const char *to_string(walk_fault f) {
  switch (f) {
    case walk_fault::none:
      return "none";
    case walk_fault::translation:
      return "translation";
    case walk_fault::address_size:
      return "address_size";
    case walk_fault::access_flag:
      return "access_flag";
    case walk_fault::permission:
      return "permission";
    case walk_fault::external_abort:
      return "external_abort";
    case walk_fault::reserved:
      return "reserved";
  }
  return "?";
}

walk_result walk_engine::walk(const pt_format &fmt, const walk_params &p, uint64_t ia,
                              const access_kind &acc, walk_memory &mem, walk_cache_if *cache,
                              table_translator *s2, const clock_domain &clk,
                              const walk_timing &wt, timing_ctx &t) {
  walk_result r;

  // An input address out of range faults before any fetch; the Arm ARM
  // reports it at level 0.
  if (!fmt.input_in_range(ia, p)) {
    r.fault = walk_fault::translation;
    r.level = 0;
    return r;
  }

  const int last = fmt.last_level(p);
  int level = p.start_level;
  uint64_t table = p.ttb;
  walk_state st{};

  // 1. Resume point: the deepest table the walk cache holds for ia. A level
  //    outside (start_level, last] is not a usable answer and is ignored.
  if (cache) {
    int cl = -1;
    uint64_t ct = 0;
    if (cache->lookup(ia, &cl, &ct, t) && cl > p.start_level && cl <= last) {
      level = cl;
      table = ct;
      r.resume_level = cl;
    }
  }

  for (;;) {
    // Index and decode work of this level on the walker's clock.
    t.advance(wt.step_cycles, clk);
    const uint64_t desc_ia = table + fmt.index(level, ia, p) * 8;

    // 2. Table address: nested, every descriptor address of the stage-1 walk
    //    is an IPA that stage 2 translates (the descriptor's address, not the
    //    table base: a table may span several stage-2 pages).
    uint64_t desc_pa = desc_ia;
    if (s2) {
      const walk_result sr = s2->translate_table(desc_ia, t);
      r.fetches += sr.fetches;
      r.updates += sr.updates;
      if (sr.fault != walk_fault::none) {
        r.fault = sr.fault;
        r.level = level;
        r.s2_fault = true;
        r.fault_ipa = desc_ia;
        return r;
      }
      const uint64_t off = desc_ia & ((sr.xlate.page_shift >= 64) ? ~0ull : (1ull << sr.xlate.page_shift) - 1);
      desc_pa = sr.xlate.out_addr + off;
    }

    // 3. Fetch (timed by the memory). A failed read is an external abort.
    uint64_t desc = 0;
    r.fetches++;
    if (!mem.read64(desc_pa, &desc, t)) {
      r.fault = walk_fault::external_abort;
      r.level = level;
      return r;
    }

    // 4./5. Decode and, at a leaf, check and update. A compare-and-swap that
    //    finds the descriptor changed decodes the value it found, from the
    //    same level and the same inherited state.
    for (unsigned attempt = 1;; attempt++) {
      walk_state nst = st;
      const pt_step step = fmt.decode(level, desc, nst, p);
      if (step.kind == pt_step::what::fault) {
        r.fault = step.fault;
        r.level = level;
        r.leaf_desc_pa = desc_pa;
        r.leaf_desc = desc;
        return r;
      }
      if (step.kind == pt_step::what::table) {
        if (level >= last) {  // a format must not descend below its last level
          r.fault = walk_fault::translation;
          r.level = level;
          return r;
        }
        if (step.update) {
          // 4. A table-descriptor update (accessed flag), as in step 5.
          uint64_t observed = desc;
          const bool ok = mem.cas64(desc_pa, desc, step.new_desc, &observed, t);
          if (!(ok && observed == desc)) {
            if (observed == desc || attempt >= max_cas_attempts) {
              r.fault = walk_fault::external_abort;
              r.level = level;
              r.leaf_desc_pa = desc_pa;
              return r;
            }
            r.fetches++;
            desc = observed;
            continue;  // changed under us: decode the new value
          }
          r.updates++;
        }
        // 4. Remember the next table (see the walk-state convention above).
        if (cache && zero_state(nst)) cache->fill(level + 1, ia, step.next);
        st = nst;
        table = step.next;
        level++;
        break;
      }

      // 5. Leaf.
      const leaf_check chk = fmt.check_leaf(level, desc, nst, acc, p);
      r.level = level;
      r.leaf_desc_pa = desc_pa;
      r.leaf_desc = desc;
      r.xlate = chk.xlate;
      if (chk.fault != walk_fault::none) {
        r.fault = chk.fault;
        return r;
      }
      if (!chk.update) return r;

      // Hardware update (access flag, dirty state) as one 64-bit
      // compare-and-swap against the value the decision was made on.
      uint64_t observed = desc;
      const bool ok = mem.cas64(desc_pa, desc, chk.new_desc, &observed, t);
      if (ok && observed == desc) {
        r.updates++;
        r.leaf_desc = chk.new_desc;
        return r;
      }
      if (observed == desc || attempt >= max_cas_attempts) {
        // The access failed, or the descriptor never settled.
        r.fault = walk_fault::external_abort;
        return r;
      }
      // Changed under us: the failed swap returned the current value, which
      // counts as a fetch; decide again on it.
      r.fetches++;
      desc = observed;
    }
    // Only a table descriptor leaves the loop above: walk the next level.
  }
}

}  // namespace iommusim::models
