// SPDX-License-Identifier: MIT
// The SMMUv3 platform from a program's point of view (sim/configs/
// smmuv3_default.yaml: MMU-600-like caches, driver on the host CPU):
//  - translations per host second, hit path and walk path, in the mode given
//    by --mode=cycle|fast (SystemC elaborates once per process: run the
//    program once per mode);
//  - the simulated cost of IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP, which includes
//    the driver's page-table writes and its TLBI + CMD_SYNC.
// Results in docs/performance.md.
#include "models/smmuv3/smmuv3.h"
#include "tb/bench/platform_bench.h"

using namespace iommusim;

int sc_main(int argc, char **argv) {
  // --user_contig: physical contiguity of the program's pages (memory.
  // user_contig). 4KiB (the default here) makes every page its own frame run,
  // so the driver maps 4 KiB pages; 1GiB lets it use 2 MiB blocks.
  std::string mode = "cycle", contig = "4KiB";
  std::vector<char *> args;
  for (int i = 0; i < argc; i++) {
    if (!std::strncmp(argv[i], "--mode=", 7)) mode = argv[i] + 7;
    else if (!std::strncmp(argv[i], "--user_contig=", 14)) contig = argv[i] + 14;
    else args.push_back(argv[i]);
  }
  if (mode != "cycle" && mode != "fast") {
    std::fprintf(stderr, "smmuv3_bench: --mode must be cycle or fast\n");
    return 2;
  }
  if (!bench::setup(bench::platform_text("sim/configs/smmuv3_default.yaml", mode, contig))) {
    std::fprintf(stderr, "smmuv3_bench: platform set-up failed\n");
    return 1;
  }
  models::smmuv3::smmuv3 *smmu = bench::g.p->iommus().at(0).model;
  bench::g.counter = [smmu](const char *name) { return smmu->stats()->get(name); };
  benchmark::AddCustomContext("timing_mode", mode);
  benchmark::AddCustomContext("user_contig", contig);
  return bench::run_all("smmuv3_bench", {"transaction", "tlb_miss", "trans_table_walk_access", "utlb_miss"},
                        "SMMUV3_BENCH_STATS", static_cast<int>(args.size()), args.data());
}
