// SPDX-License-Identifier: MIT
// The VT-d keys of a platform config as docs/platform_config.md ("VT-d
// units") documents them: every key, given its documented default, yields
// the unit a bare `type: vtd` yields (so the documented defaults are the
// code's); every key is read (a non-default value changes the unit); the
// interrupt range defaults to the doorbell window. Config parsing only: no
// platform is built.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "sim/config.h"

using namespace iommusim;
using namespace iommusim::sim;

namespace {

// Every field of a VT-d unit and its driver, as text, so two units compare
// and a difference shows which field.
std::string describe(const iommu_desc &d) {
  std::ostringstream o;
  const models::vtd::vtd_config &v = d.vtd;
  const auto &c = v.cap;
  const auto &e = v.ecap;
  const auto &l = v.latency;
  o << "name " << d.name << " base " << d.base << " size " << d.size << " clock " << v.clock_mhz
    << " version " << v.version << "\ncap nd " << c.nd << " afl " << c.afl << " rwbf " << c.rwbf
    << " plmr " << c.plmr << " phmr " << c.phmr << " cm " << c.cm << " sagaw " << c.sagaw << " mgaw "
    << c.mgaw << " zlr " << c.zlr << " sllps " << c.sllps << " psi " << c.psi << " mamv " << c.mamv
    << " nfr " << c.nfr << " dwd " << c.dwd << " drd " << c.drd << " fl1gp " << c.fl1gp << " pi " << c.pi
    << " fl5lp " << c.fl5lp << " fro " << c.fro << "\necap c " << e.c << " qi " << e.qi << " dt " << e.dt
    << " ir " << e.ir << " eim " << e.eim << " pt " << e.pt << " sc " << e.sc << " iro " << e.iro
    << " mhmv " << e.mhmv << " nest " << e.nest << " prs " << e.prs << " ers " << e.ers << " srs "
    << e.srs << " nwfs " << e.nwfs << " eafs " << e.eafs << " pss " << e.pss << " pasid " << e.pasid
    << " dit " << e.dit << " pds " << e.pds << " smts " << e.smts << " vcs " << e.vcs << " ssads "
    << e.ssads << " ssts " << e.ssts << " fsts " << e.fsts << " smpwcs " << e.smpwcs << " rps " << e.rps
    << "\nlatency " << l.ingress << ' ' << l.context_check << ' ' << l.pasid_check << ' ' << l.walk_step
    << ' ' << l.nested_combine << ' ' << l.fault << ' ' << l.reg_access << ' ' << l.qi_decode << ' '
    << l.qi_cc << ' ' << l.qi_iotlb << ' ' << l.qi_dev_tlb << ' ' << l.qi_iec << ' ' << l.qi_wait << ' '
    << l.qi_prq_resp << ' ' << l.prq_record << ' ' << l.msi << "\ndiagnostics " << v.diagnostics.stale_tlb
    << ' ' << v.diagnostics.max_reports << "\nslots " << v.translation_slots << ' ' << v.walk_slots
    << "\ndev_tlb_timeout " << v.dev_tlb_timeout << "\ninterrupt_range " << std::hex
    << v.interrupt_range_base << ' ' << v.interrupt_range_size << std::dec << "\nirq "
    << d.vtd_driver.irq_fault << ' ' << d.vtd_driver.irq_prq << ' ' << d.irq_vtd_inv << "\nforce_legacy "
    << d.vtd_driver.force_legacy << '\n';
  auto cache = [&](const models::cache_config &k) {
    o << k.name << ": " << k.entries << ' ' << k.ways << ' ' << models::to_string(k.policy) << ' '
      << k.lookup_cycles << ' ' << k.parallel_probes << ' ' << k.fill_cycles << ' '
      << k.invalidate_cycles_per_set << ' ' << k.flash_invalidate << ' ' << k.random_seed << ' '
      << static_cast<bool>(k.backend) << '\n';
  };
  cache(v.iotlb);
  cache(v.context_cache);
  cache(v.pasid_cache);
  for (const auto &k : v.pwc_fs) cache(k);
  for (const auto &k : v.pwc_ss) cache(k);
  return o.str();
}

// The unit of `iommus: [<unit>]`, or the errors.
std::string unit_of(const std::string &unit, const std::string &top = "") {
  platform_config c;
  std::vector<config_error> errors;
  if (!load_config_string(top + "iommus:\n  - " + unit + "\n", "yaml", &c, &errors))
    return "ERROR " + format_errors(errors);
  return describe(c.iommus.at(0));
}

// Every key of docs/platform_config.md "VT-d units", at its documented default.
const char kDocumentedDefaults[] = R"({name: smmu0, type: vtd, base: 0x0900_0000, clock_mhz: 1000, version: 0x60,
      cap: {nd: 6, rwbf: false, plmr: false, phmr: false, cm: false, sagaw: 0b01110, mgaw: 57, zlr: true,
            sllps: 0b11, psi: true, mamv: 18, nfr: 8, dwd: true, drd: true, fl1gp: true, fl5lp: true,
            fro: 0x600},
      ecap: {c: true, qi: true, dt: true, ir: false, eim: false, pt: true, sc: true, iro: 0x500, mhmv: 15,
             nest: true, prs: true, ers: false, srs: true, nwfs: true, eafs: false, pasid: true, pss: 19,
             dit: false, pds: true, smts: true, vcs: false, ssads: true, ssts: true, fsts: true,
             smpwcs: true, rps: false},
      latency: {ingress: 1, context_check: 2, pasid_check: 2, walk_step: 1, nested_combine: 1, fault: 2,
                reg_access: 1, prq_record: 1, qi_decode: 1, qi_cc: 2, qi_iotlb: 2, qi_dev_tlb: 2,
                qi_iec: 1, qi_wait: 2, qi_prq_resp: 2, msi: 1},
      diagnostics: {stale_tlb: true, max_reports: 4096},
      slots: {translation: 16, walk: 4},
      iotlb: {entries: 64, ways: 0, policy: lru, lookup: 2, tlb_impl: systemc},
      context_cache: {entries: 32, ways: 0, policy: lru, lookup: 2},
      pasid_cache: {entries: 32, ways: 0, policy: lru, lookup: 2},
      pwc: {fs: [{level: 0, entries: 4}, {level: 1, entries: 8}, {level: 2, entries: 16},
                 {level: 3, entries: 32, ways: 0, policy: lru, lookup: 2}],
            ss: [{level: 0, entries: 4}, {level: 1, entries: 8}, {level: 2, entries: 16},
                 {level: 3, entries: 32}]},
      dev_tlb_timeout: 1000000,
      interrupt_range_base: 0x0800_0000, interrupt_range_size: 0x40000,
      irq: {fault: 0, page_request: 1, inv_complete: 2},
      driver: {force_legacy: false}})";

}  // namespace

TEST(VtdConfigKeys, EveryDocumentedKeyAtItsDocumentedDefaultGivesTheBareUnit) {
  const std::string bare = unit_of("{type: vtd}");
  ASSERT_EQ(bare.rfind("ERROR", 0), std::string::npos) << bare;
  EXPECT_EQ(unit_of(kDocumentedDefaults), bare);
}

// The interrupt range is the platform's doorbell window unless given.
TEST(VtdConfigKeys, InterruptRangeDefaultsToTheDoorbellWindow) {
  const std::string u = unit_of("{type: vtd}", "interrupts: {lines: 16, msi_base: 0x0a00_0000}\n");
  EXPECT_NE(u.find("\ninterrupt_range a000000 10000\n"), std::string::npos) << u;
  const std::string v = unit_of("{type: vtd, interrupt_range_base: 0xfee0_0000, interrupt_range_size: 1MiB}",
                                "interrupts: {lines: 16, msi_base: 0x0a00_0000}\n");
  EXPECT_NE(v.find("\ninterrupt_range fee00000 100000\n"), std::string::npos) << v;
}

// Each key, set away from its default, changes the unit (it is read, and
// read into its own field: no two keys give the same unit).
TEST(VtdConfigKeys, EveryKeyIsRead) {
  const std::string bare = unit_of("{type: vtd}");
  const std::vector<std::string> keys = {
      "name: dmar7", "base: 0x0a00_0000", "clock_mhz: 1500", "version: 0x10",
      "cap: {nd: 4}", "cap: {rwbf: true}", "cap: {plmr: true}", "cap: {phmr: true}", "cap: {cm: true}",
      "cap: {sagaw: 0b00100}", "cap: {mgaw: 48}", "cap: {zlr: false}", "cap: {sllps: 1}", "cap: {psi: false}",
      "cap: {mamv: 9}", "cap: {nfr: 4}", "cap: {dwd: false}", "cap: {drd: false}", "cap: {fl1gp: false}",
      "cap: {fl5lp: false}", "cap: {fro: 0x800}",
      "ecap: {c: false}", "ecap: {qi: false}", "ecap: {dt: false}", "ecap: {ir: true}", "ecap: {eim: true}",
      "ecap: {pt: false}", "ecap: {sc: false}", "ecap: {iro: 0x400}", "ecap: {mhmv: 3}", "ecap: {nest: false}",
      "ecap: {prs: false}", "ecap: {ers: true}", "ecap: {srs: false}", "ecap: {nwfs: false}",
      "ecap: {eafs: true}", "ecap: {pasid: false}", "ecap: {pss: 7}", "ecap: {dit: true}", "ecap: {pds: false}",
      "ecap: {smts: false}", "ecap: {vcs: true}", "ecap: {ssads: false}", "ecap: {ssts: false}",
      "ecap: {fsts: false}", "ecap: {smpwcs: false}", "ecap: {rps: true}",
      "latency: {ingress: 9}", "latency: {context_check: 9}", "latency: {pasid_check: 9}",
      "latency: {walk_step: 9}", "latency: {nested_combine: 9}", "latency: {fault: 9}",
      "latency: {reg_access: 9}", "latency: {qi_decode: 9}", "latency: {qi_cc: 9}", "latency: {qi_iotlb: 9}",
      "latency: {qi_dev_tlb: 9}", "latency: {qi_iec: 9}", "latency: {qi_wait: 9}", "latency: {qi_prq_resp: 9}",
      "latency: {prq_record: 9}", "latency: {msi: 9}",
      "diagnostics: {stale_tlb: false}", "diagnostics: {max_reports: 5}",
      "slots: {translation: 3}", "slots: {walk: 3}",
      "iotlb: {entries: 128}", "iotlb: {entries: 64, ways: 4, policy: plru, tlb_impl: rtl}",
      "context_cache: {entries: 16}", "pasid_cache: {entries: 16}",
      "pwc: {fs: [{level: 0, entries: 0}]}", "pwc: {ss: [{level: 3, entries: 64}]}",
      "dev_tlb_timeout: 77", "interrupt_range_base: 0xfee0_0000", "interrupt_range_size: 0x1000",
      "irq: {fault: 9}", "irq: {page_request: 9}", "irq: {inv_complete: 9}",
      "driver: {force_legacy: true}"};
  std::vector<std::string> seen;
  for (const std::string &k : keys) {
    const std::string u = unit_of("{type: vtd, " + k + "}");
    EXPECT_EQ(u.rfind("ERROR", 0), std::string::npos) << k << ": " << u;
    EXPECT_NE(u, bare) << k << " changed nothing";
    for (size_t i = 0; i < seen.size(); i++) EXPECT_NE(u, seen[i]) << k << " and " << keys[i] << " give one unit";
    seen.push_back(u);
  }
}

// AFL and PI are not modelled: they are not keys (docs say so).
TEST(VtdConfigKeys, UnmodelledCapabilitiesAreNotKeys) {
  for (const char *k : {"afl", "pi"}) {
    const std::string u = unit_of(std::string("{type: vtd, cap: {") + k + ": true}}");
    EXPECT_NE(u.find(std::string(": iommus[0].cap.") + k + ": unknown key"), std::string::npos) << u;
  }
}
