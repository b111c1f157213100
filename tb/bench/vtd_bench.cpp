// SPDX-License-Identifier: MIT
// The VT-d platform from a program's point of view (sim/configs/
// vtd_default.yaml: 64-entry IOTLB, per-level paging-structure caches, the
// driver on the host CPU), as smmuv3_bench measures the SMMUv3:
//  - translations per host second, IOTLB-hit path and walk path, in the mode
//    given by --mode=cycle|fast (one SystemC elaboration per process);
//  - the simulated cost of IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP, which includes
//    the driver's page-table writes and its QI IOTLB invalidation + wait
//    descriptor (VT-d §6.5.2);
// in scalable mode (the default) or legacy mode (--vtd_mode=legacy: the
// driver's force_legacy, Linux's intel_iommu=sm_off). Results in
// docs/performance.md.
#include "models/vtd/vtd.h"
#include "tb/bench/platform_bench.h"

using namespace iommusim;

int sc_main(int argc, char **argv) {
  // --user_contig: physical contiguity of the program's pages (memory.
  // user_contig). 4KiB (the default here) makes every page its own frame run,
  // so the driver maps 4 KiB pages; 1GiB lets it use 2 MiB superpages.
  std::string mode = "cycle", contig = "4KiB", vtd_mode = "scalable";
  std::vector<char *> args;
  for (int i = 0; i < argc; i++) {
    if (!std::strncmp(argv[i], "--mode=", 7)) mode = argv[i] + 7;
    else if (!std::strncmp(argv[i], "--user_contig=", 14)) contig = argv[i] + 14;
    else if (!std::strncmp(argv[i], "--vtd_mode=", 11)) vtd_mode = argv[i] + 11;
    else args.push_back(argv[i]);
  }
  if ((mode != "cycle" && mode != "fast") || (vtd_mode != "scalable" && vtd_mode != "legacy")) {
    std::fprintf(stderr, "vtd_bench: --mode must be cycle or fast, --vtd_mode scalable or legacy\n");
    return 2;
  }
  std::string text = bench::platform_text("sim/configs/vtd_default.yaml", mode, contig);
  if (vtd_mode == "legacy") text.replace(text.find("force_legacy: false"), 19, "force_legacy: true ");
  if (!bench::setup(text)) {
    std::fprintf(stderr, "vtd_bench: platform set-up failed\n");
    return 1;
  }
  models::vtd::vtd *unit = bench::g.p->iommus().at(0).vtd_model;
  bench::g.counter = [unit](const char *name) { return unit->stats()->get(name); };
  // IOTLB invalidation descriptors (domain/page-selective and PASID-based).
  bench::g.invalidations = [unit] {
    const models::stats_group *qi = unit->stats("qi");
    return qi->get("iotlb_inv") + qi->get("piotlb_inv");
  };
  benchmark::AddCustomContext("timing_mode", mode);
  benchmark::AddCustomContext("user_contig", contig);
  benchmark::AddCustomContext("vtd_mode", vtd_mode);
  return bench::run_all("vtd_bench", {"requests", "iotlb_miss", "page_walk_reads"}, "VTD_BENCH_STATS",
                        static_cast<int>(args.size()), args.data());
}
