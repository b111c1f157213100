"""Helpers of the sweep tests."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List

SIM_COLUMNS = ["transactions", "errors", "hit_rate", "utlb_hit_rate", "walks_per_kib", "translation_p99_cycles",
               "translation_mean_cycles", "dma_p99_ns", "achieved_gbps", "sim_time_ns"]


def rows(path: Path) -> List[Dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def by_point(rs: List[Dict[str, str]], keys: List[str]) -> Dict[tuple, Dict[str, str]]:
    return {tuple(r[k] for k in keys): {c: r[c] for c in SIM_COLUMNS + ["status"]} for r in rs}
