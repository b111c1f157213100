#!/usr/bin/env python3
"""Benchmarks of docs/performance.md, "Python, run and sweep" (not a test).

  PYTHONPATH=build/python IOMMUSIM_CLI=build/sim/iommusim /usr/bin/python3 tb/python/bench_python.py

1. Simulated DMA transactions per host second of `iommusim run` (the default
   scenario, 42,500 DMAs), cycle and fast mode: replay phase only, and whole
   process wall time.
2. Sweep throughput: configurations per minute of `iommusim sweep` over the
   default scenario's trace, 7 entry counts x 2 policies, on --jobs 2.
Prints one JSON document.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import iommusim
from iommusim import sweeps, traces


def run_bench(mode: str, n: int = 5) -> dict:
    tps, wall = [], []
    for _ in range(n):
        t0 = time.monotonic()
        r = iommusim.run(sets={"timing": mode})
        wall.append(time.monotonic() - t0)
        tps.append(r["host"]["transactions_per_second"])
    return {"mode": mode, "transactions": r["transactions"], "txn_per_s_median": round(statistics.median(tps)),
            "txn_per_s_best": round(max(tps)), "process_wall_s_median": round(statistics.median(wall), 3)}


def sweep_bench(tmp: str) -> dict:
    trace = os.path.join(tmp, "nic_rx.itrc.zst")
    traces.generate("nic_rx", trace)
    axes = sweeps.standard_axes([trace], entries=[64, 128, 256, 512, 1024, 2048, 4096], policy=["lru", "plru"])
    res = iommusim.sweep(axes, os.path.join(tmp, "b.csv"), jobs=2, progress=False)
    return {"points": res["points"], "errors": res["errors"], "seconds": res["seconds"],
            "configs_per_minute": round(sweeps.configs_per_minute(res), 1)}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0],
               "run": [run_bench("cycle"), run_bench("fast")], "sweep": sweep_bench(tmp)}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
