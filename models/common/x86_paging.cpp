// SPDX-License-Identifier: MIT
// x86 first- and second-stage page-table formats (x86_paging.h).
#include "x86_paging.h"

namespace iommusim::models::x86 {

namespace {

// walk_state::a bits: what a higher level took away.
constexpr uint64_t st_no_write = 1u << 0;
constexpr uint64_t st_no_user = 1u << 1;   // first stage
constexpr uint64_t st_xd = 1u << 2;        // first stage
constexpr uint64_t st_no_read = 1u << 3;   // second stage

uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~0ull : (uint64_t{1} << bits) - 1; }

// Address bits at or above the output width (within 51:12) are reserved.
bool addr_reserved(uint64_t desc, const walk_params &p) {
  return (desc & addr_mask & ~low_mask(p.oas)) != 0;
}

pt_step fault(walk_fault f) {
  pt_step s;
  s.kind = pt_step::what::fault;
  s.fault = f;
  return s;
}

}  // namespace

// ---------------------------------------------------------------- first stage

bool first_stage_format::input_in_range(uint64_t ia, const walk_params &p) const {
  // VT-d §3.6: first-stage input addresses must be canonical.
  if (p.ias >= 64) return true;
  const uint64_t upper = ia >> (p.ias - 1);
  return upper == 0 || upper == (~0ull >> (p.ias - 1));
}

pt_step first_stage_format::decode(int level, uint64_t desc, walk_state &st,
                                   const walk_params &p) const {
  if (!(desc & fs_p)) return fault(walk_fault::translation);
  if (addr_reserved(desc, p)) return fault(walk_fault::reserved);
  const bool ps = desc & fs_ps;
  // PS is reserved in PML5E/PML4E, and in a PDPTE without FS1GP (§9.7).
  if (ps && (level <= 1 || (level == 2 && !(p.format_flags & ff_fs_1g))))
    return fault(walk_fault::reserved);
  const bool leaf = level == x86::last_level || ps;
  // A large page's address bits below its size (above the PAT bit 12) are reserved.
  if (ps && (desc & low_mask(x86::level_shift(level)) & ~low_mask(13)) != 0)
    return fault(walk_fault::reserved);
  if (!(desc & fs_rw)) st.a |= st_no_write;
  if (!(desc & fs_us)) st.a |= st_no_user;
  if (desc & fs_xd) st.a |= st_xd;
  pt_step s;
  if (leaf) {
    s.kind = pt_step::what::leaf;
    return s;
  }
  s.kind = pt_step::what::table;
  s.next = desc & addr_mask & low_mask(p.oas);
  // §3.6.3: A is set in every first-stage paging-structure entry used.
  if (!(p.format_flags & ff_no_ad) && !(desc & fs_a)) {
    s.update = true;
    s.new_desc = desc | fs_a;
  }
  return s;
}

leaf_check first_stage_format::check_leaf(int level, uint64_t desc, const walk_state &st,
                                          const access_kind &acc, const walk_params &p) const {
  leaf_check c;
  const unsigned shift = x86::level_shift(level);
  c.xlate.page_shift = shift;
  c.xlate.out_addr = desc & addr_mask & low_mask(p.oas) & ~low_mask(shift);
  c.xlate.read = true;
  c.xlate.write = !(st.a & st_no_write);
  c.xlate.priv_only = st.a & st_no_user;
  c.xlate.exec = !(st.a & st_xd);
  if (desc & fs_g) c.xlate.attrs |= xa_global;
  if (desc & fs_d) c.xlate.attrs |= xa_dirty;
  if (const deny d = fs_check(c.xlate, acc, p.format_flags); d != deny::none) {
    c.fault = walk_fault::permission;
    return c;
  }
  if (p.format_flags & ff_no_ad) return c;
  // §3.6.3: the remapping hardware sets A on use and D on a write.
  c.xlate.attrs |= xa_ad_tracked;
  const uint64_t want = desc | fs_a | (acc.write ? fs_d : 0);
  if (want != desc) {
    c.update = true;
    c.new_desc = want;
  }
  if (acc.write) c.xlate.attrs |= xa_dirty;
  return c;
}

deny fs_check(const translation &x, const access_kind &acc, uint64_t ff) {
  if (!acc.priv && x.priv_only) return deny::privilege;
  if (acc.write && !x.write && (!acc.priv || (ff & ff_wpe))) return deny::write;
  if (acc.exec && (ff & ff_exec)) {
    if (!x.exec) return deny::exec;
    // Supervisor instruction fetches from user pages are not allowed (§3.6.2).
    if (acc.priv && !x.priv_only) return deny::exec;
  }
  return deny::none;
}

// --------------------------------------------------------------- second stage

bool second_stage_format::input_in_range(uint64_t ia, const walk_params &p) const {
  return p.ias >= 64 || (ia >> p.ias) == 0;
}

pt_step second_stage_format::decode(int level, uint64_t desc, walk_state &st,
                                    const walk_params &p) const {
  // §9.8: an entry with R and W both clear is not present.
  if (!(desc & (ss_r | ss_w))) return fault(walk_fault::translation);
  if (addr_reserved(desc, p)) return fault(walk_fault::reserved);
  const bool ps = desc & ss_ps;
  if (ps && (level <= 1 || (level == 2 && !(p.format_flags & ff_ss_1g)) ||
             (level == 3 && !(p.format_flags & ff_ss_2m))))
    return fault(walk_fault::reserved);
  const bool leaf = level == x86::last_level || ps;
  if (ps && (desc & low_mask(x86::level_shift(level)) & ~low_mask(12)) != 0)
    return fault(walk_fault::reserved);
  // EMT and IPAT (bits 6:3) are reserved in non-leaf entries.
  if (!leaf && (desc & 0x78) != 0) return fault(walk_fault::reserved);
  if (!(desc & ss_r)) st.a |= st_no_read;
  if (!(desc & ss_w)) st.a |= st_no_write;
  pt_step s;
  if (leaf) {
    s.kind = pt_step::what::leaf;
    return s;
  }
  s.kind = pt_step::what::table;
  s.next = desc & addr_mask & low_mask(p.oas);
  return s;
}

leaf_check second_stage_format::check_leaf(int level, uint64_t desc, const walk_state &st,
                                           const access_kind &acc, const walk_params &p) const {
  leaf_check c;
  const unsigned shift = x86::level_shift(level);
  c.xlate.page_shift = shift;
  c.xlate.out_addr = desc & addr_mask & low_mask(p.oas) & ~low_mask(shift);
  c.xlate.read = !(st.a & st_no_read);
  c.xlate.write = !(st.a & st_no_write);
  c.xlate.exec = desc & ss_x;
  c.xlate.attrs |= ((desc >> 3) & 7) << xa_emt_shift;
  if (desc & ss_ipat) c.xlate.attrs |= xa_ipat;
  if (desc & ss_snp) c.xlate.attrs |= xa_snoop;
  if (desc & ss_d) c.xlate.attrs |= xa_dirty;
  if (const deny d = ss_check(c.xlate, acc, p.format_flags); d != deny::none) {
    c.fault = walk_fault::permission;
    return c;
  }
  if (!(p.format_flags & ff_ss_ad)) return c;
  // §3.8 (SSADS): with SSADE the hardware sets A on use and D on a write.
  c.xlate.attrs |= xa_ad_tracked;
  const uint64_t want = desc | ss_a | (acc.write ? ss_d : 0);
  if (want != desc) {
    c.update = true;
    c.new_desc = want;
  }
  if (acc.write) c.xlate.attrs |= xa_dirty;
  return c;
}

deny ss_check(const translation &x, const access_kind &acc, uint64_t ff) {
  if (acc.write) {
    if (!x.write) return deny::write;
  } else if (!x.read) {
    return deny::read;
  }
  if (acc.exec && (ff & ff_exec) && !x.exec) return deny::exec;
  return deny::none;
}

}  // namespace iommusim::models::x86
