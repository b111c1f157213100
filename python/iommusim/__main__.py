"""python3 -m iommusim sweep ... (what `iommusim sweep` runs)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from . import sweeps as sw


def _sweep_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="iommusim sweep",
        description="Sweep IOTLB/walk-cache entries, ways, replacement policy, page size and the IOMMU model "
                    "over traces. One simulation process per point; CSV rows as points finish; PNG plots of "
                    "hit rate and p99 translation latency against entries, one line per trace.",
        epilog="Exit status: 0 when every point ran, 1 when some point failed (its row says why), 2 for bad "
               "input. Example: iommusim sweep -t traces/samples/nic_rx.itrc.zst --entries 64..4096 "
               "--policy lru,plru -o sweep.csv --plot sweep.png")
    p.add_argument("-t", "--trace", action="append", default=[], metavar="FILE",
                   help="a trace (any form of traces/FORMAT.md); repeat for several (one line each in the plot)")
    p.add_argument("--entries", metavar="LIST", help="entries of the swept cache: 256,512,... or A..B (powers of two)")
    p.add_argument("--ways", metavar="LIST", help="associativity: 0 (fully associative),4,8,...")
    p.add_argument("--policy", metavar="LIST", help="replacement: lru,plru,round_robin,random")
    p.add_argument("--page-size", metavar="LIST", help="mapping page size: 4K,64K,2M,...")
    p.add_argument("--model", metavar="LIST", help="IOMMU models, each on its built-in platform: smmuv3 (MMU-600-like), "
                                                   "vtd (Xeon-like)")
    p.add_argument("--platform", metavar="LIST", help="platform config files to sweep (any model the config accepts)")
    p.add_argument("--cache", default="iotlb", metavar="KEY",
                   help="the cache of iommus[0] that --entries/--ways/--policy set: iotlb (default: the model's IOTLB, "
                        "smmuv3 main_tlb, vtd iotlb) or a cache key such as micro_tlb, config_cache, context_cache")
    p.add_argument("--axis", action="append", default=[], metavar="[NAME:]KEY=V1,V2",
                   help="any other platform key, e.g. wc2:iommus[0].walk_cache.s1[2].entries=32,128")
    p.add_argument("-s", "--set", action="append", default=[], metavar="KEY=VALUE", help="fixed platform override")
    p.add_argument("--scenario", metavar="FILE", help="scenario whose platform and page size to start from")
    p.add_argument("-o", "--output", default="sweep.csv", metavar="CSV", help="results (default sweep.csv)")
    p.add_argument("--plot", metavar="PNG", help="plot file (default: the CSV's name with .png)")
    p.add_argument("--no-plot", action="store_true", help="write no plot")
    p.add_argument("--resume", action="store_true", help="keep the CSV's rows and run only the missing points")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="local processes at once (default: every core)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on this Dask cluster (tcp://host:8786)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="give up on a point after this long")
    p.add_argument("--cli", metavar="PATH", help="the iommusim executable (default: IOMMUSIM_CLI, then PATH)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (rows included)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def sweep_main(argv: List[str]) -> int:
    args = _sweep_parser().parse_args(argv)
    try:
        sets = {}
        for s in args.set:
            if "=" not in s or s.startswith("="):
                raise sw.SweepError(f"--set {s}: expected KEY=VALUE")
            k, v = s.split("=", 1)
            sets[k] = v
        def split(s: str) -> List[str]:
            return [v for v in s.split(",") if v]

        axes = sw.standard_axes(
            args.trace,
            entries=sw.sizes(args.entries, "--entries") if args.entries else (),
            ways=sw.sizes(args.ways, "--ways") if args.ways else (),
            policy=split(args.policy) if args.policy else (),
            page_size=split(args.page_size) if args.page_size else (),
            model=split(args.model) if args.model else (),
            platforms=split(args.platform) if args.platform else (),
            cache=args.cache,
            extra=[sw.parse_axis(a) for a in args.axis])
        plot = None if args.no_plot else (args.plot or (args.output.rsplit(".", 1)[0] + ".png"))
        result = sw.sweep(axes, args.output, cache=args.cache, scenario=args.scenario, sets=sets, jobs=args.jobs,
                          scheduler=args.scheduler, resume=args.resume, plot=plot, progress=not args.quiet,
                          timeout=args.timeout, cli=args.cli)
    except sw.SweepError as e:
        print(f"iommusim sweep: {e}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": str(e), "exit_status": 2}))
        return 2
    except KeyboardInterrupt:
        print(f"\niommusim sweep: interrupted; rerun with --resume to finish {args.output}", file=sys.stderr)
        return 130
    result["configs_per_minute"] = sw.configs_per_minute(result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['csv']}: {result['points']} points, {result['ran']} run, {result['skipped']} kept from "
              f"before, {result['errors']} failed; {result['seconds']:.1f} s "
              f"({result['configs_per_minute']:.1f} configurations/min)")
        if result["plot"]:
            print(f"plot: {result['plot']}")
    return 1 if result["errors"] else 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python3 -m iommusim sweep [options]   (see: python3 -m iommusim sweep --help)")
        return 0 if argv else 2
    if argv[0] == "sweep":
        return sweep_main(argv[1:])
    print(f"python3 -m iommusim: unknown command '{argv[0]}' (commands: sweep)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
