"""The IOTLB-reach scenario: the pcie-bench DMA-window sweep.

64-byte random DMA reads (many in flight) into a host window of 4 KiB pages,
the window doubling from 4 KiB to 64 MiB, as pcie-bench measured IOMMU cost
(Neugebauer et al., SIGCOMM 2018, §6.3 and Fig. 9). While the window fits the
IOTLB's reach (entries x 4 KiB) nearly every translation hits; past it the
miss rate approaches 1 - entries / pages (LRU under uniform random access),
so mean translation latency jumps and bandwidth falls: the knee. With the
VT-d's default 64-entry IOTLB the knee lies between 256 KiB and 512 KiB.

One `iommusim run` process per window (SystemC elaborates once per process).

    python3 -m iommusim.reach [--platform FILE | --model vtd] [--count N] [--plot F.png]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .run import RunError, run_args, run_cli

KIB = 1024


def size_text(n: int) -> str:
    """4096 -> '4K', 1 << 20 -> '1M' (the generators' size syntax)."""
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def windows(lo: int = 4 * KIB, hi: int = 64 << 20) -> List[int]:
    """Powers of two from lo to hi inclusive."""
    out, w = [], lo
    while w <= hi:
        out.append(w)
        w *= 2
    return out


def _iotlb(doc: Dict[str, Any]) -> Dict[str, Any]:
    # The model's IOTLB statistics group: VT-d `iotlb`, SMMUv3 `main_tlb`.
    want = ".iotlb" if doc.get("model") == "vtd" else ".main_tlb"
    for c in doc["caches"]:
        if c["name"].endswith(want):
            return c
    raise RunError(f"no {want[1:]} statistics in the run's result", 1)


def run_window(window: int, *, count: int, platform: Optional[str], model: Optional[str], seed: int = 1,
               sets: Optional[Mapping[str, Any]] = None, cli: Optional[str] = None,
               timeout: Optional[float] = None) -> Dict[str, Any]:
    """One window (sets: platform overrides, e.g. {"iommus[0].iotlb.entries": 128}): the table's row."""
    params = {"window": size_text(window), "pattern": "random", "transfer": 64, "direction": "read",
              "count": count, "seed": seed}
    doc = run_cli(run_args(generate="pciebench", params=params, page_size="4K", platform=platform, model=model,
                           sets=sets),
                  cli=cli, timeout=timeout)
    tlb = _iotlb(doc)
    tr = doc["translation"]
    return {
        "window": window,
        "pages": window // (4 * KIB),
        "transactions": doc["transactions"],
        "errors": doc["errors"],
        "iotlb_lookups": tlb["lookups"],
        "iotlb_misses": tlb["misses"],
        "iotlb_miss_rate": tlb["misses"] / tlb["lookups"] if tlb["lookups"] else 0.0,
        "walk_accesses": doc["walk_accesses"],
        "mean_cycles": tr["mean_cycles"],
        "mean_ns": tr["mean_ns"],
        "p99_ns": tr["p99_ns"],
        "dma_mean_ns": doc["dma_latency_ns"]["mean"],
        "achieved_gbps": doc["achieved_gbps"],
        "sim_time_ns": doc["sim_time_ns"],
    }


def window_sweep(ws: Sequence[int] = tuple(windows()), *, count: int = 16000, platform: Optional[str] = None,
                 model: Optional[str] = None, jobs: Optional[int] = None, seed: int = 1,
                 sets: Optional[Mapping[str, Any]] = None, cli: Optional[str] = None,
                 timeout: Optional[float] = None) -> List[Dict[str, Any]]:
    """Every window, one process each, `jobs` at once (default: every core); rows in window order."""
    if platform is None and model is None:
        model = "vtd"
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        futs = [pool.submit(run_window, w, count=count, platform=platform, model=model, seed=seed, sets=sets,
                            cli=cli, timeout=timeout) for w in ws]
        return [f.result() for f in futs]


def knee(rows: Sequence[Dict[str, Any]]) -> Tuple[int, int]:
    """The two neighbouring windows between which mean translation latency rises the most (as a ratio)."""
    best, at = 0.0, (rows[0]["window"], rows[0]["window"])
    for a, b in zip(rows, rows[1:]):
        r = b["mean_ns"] / max(a["mean_ns"], 1e-9)
        if r > best:
            best, at = r, (a["window"], b["window"])
    return at


def table(rows: Sequence[Dict[str, Any]]) -> str:
    lines = [f"{'window':>8} {'pages':>6} {'IOTLB miss':>10} {'xlat mean ns':>12} {'cycles':>8} "
             f"{'p99 ns':>7} {'DMA mean ns':>11} {'Gb/s':>7}"]
    for r in rows:
        lines.append(f"{size_text(r['window']) + 'iB':>8} {r['pages']:>6} {100 * r['iotlb_miss_rate']:>9.2f}% "
                     f"{r['mean_ns']:>12.2f} {r['mean_cycles']:>8.2f} {r['p99_ns']:>7.0f} "
                     f"{r['dma_mean_ns']:>11.2f} {r['achieved_gbps']:>7.2f}")
    a, b = knee(rows)
    lines.append(f"knee: between {size_text(a)}iB and {size_text(b)}iB")
    return "\n".join(lines)


def plot(rows: Sequence[Dict[str, Any]], path: str) -> bool:
    """Mean translation latency and bandwidth against the window; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    x = [r["window"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, [r["mean_ns"] for r in rows], "o-", color="tab:red", label="mean translation latency")
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [size_text(w) for w in x], rotation=45)
    ax.set_xlabel("DMA window (64 B random reads, 4 KiB pages)")
    ax.set_ylabel("mean translation latency, ns")
    bw = ax.twinx()
    bw.plot(x, [r["achieved_gbps"] for r in rows], "s--", color="tab:blue", label="achieved bandwidth")
    bw.set_ylabel("achieved bandwidth, Gb/s")
    a, b = knee(rows)
    ax.axvspan(a, b, color="0.9")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = bw.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="center left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m iommusim.reach",
                                description="The pcie-bench DMA-window sweep: 64 B random reads, 4 KiB pages, "
                                            "one run per window; prints mean translation latency, IOTLB miss "
                                            "rate and bandwidth per window, and the knee.")
    p.add_argument("--platform", metavar="FILE", help="platform config (e.g. sim/configs/vtd_default.yaml)")
    p.add_argument("--model", metavar="NAME", help="a built-in platform (vtd, the default; smmuv3)")
    p.add_argument("--count", type=int, default=16000, help="reads per window (default 16000)")
    p.add_argument("--min", default="4K", help="smallest window (default 4K)")
    p.add_argument("--max", default="64M", help="largest window (default 64M)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("-s", "--set", action="append", default=[], metavar="KEY=VALUE",
                   help="platform override, e.g. iommus[0].iotlb.entries=128")
    p.add_argument("-j", "--jobs", type=int, help="runs at once (default: every core)")
    p.add_argument("--csv", metavar="FILE", help="also write the rows as CSV")
    p.add_argument("--plot", metavar="PNG", help="plot latency and bandwidth against the window")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = p.parse_args(argv)

    def parse(s: str) -> int:
        units = {"K": 10, "M": 20, "G": 30}
        s = s.upper().removesuffix("IB").removesuffix("B")
        if s and s[-1] in units:
            return int(s[:-1]) << units[s[-1]]
        return int(s, 0)

    try:
        sets = dict(kv.split("=", 1) for kv in args.set if "=" in kv)
        if len(sets) != len(args.set):
            raise ValueError("--set: expected KEY=VALUE")
        if parse(args.min) > parse(args.max):
            raise ValueError(f"--min {args.min} is larger than --max {args.max}")
        rows = window_sweep(windows(parse(args.min), parse(args.max)), count=args.count, platform=args.platform,
                            model=args.model, jobs=args.jobs, seed=args.seed, sets=sets)
    except (RunError, ValueError) as e:
        print(f"iommusim.reach: {e}", file=sys.stderr)
        return getattr(e, "exit_status", 2)
    if args.json:
        print(json.dumps({"rows": rows, "knee": knee(rows)}, indent=1))
    else:
        print(table(rows))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    if args.plot:
        if plot(rows, args.plot):
            print(f"plot: {args.plot}", file=sys.stderr)
        else:
            print("plot: matplotlib is not installed (apt-get install python3-matplotlib)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
