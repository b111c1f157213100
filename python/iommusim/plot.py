"""Sweep plots (matplotlib, Agg): hit rate and p99 translation latency against
the swept entries, one line per trace (and per value of any other axis)."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence


def _num(v: Any) -> Optional[float]:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def plot_sweep(rows: Sequence[Mapping[str, Any]], path: str, key_cols: Sequence[str],
               x: Optional[str] = None, cache: str = "iotlb") -> str:
    """Write a PNG of rows (CSV rows of a sweep) and return its path.

    x is the axis on the horizontal axis: 'entries' when swept, else the
    last numeric axis, else the last axis. Lines: one per combination of the
    other axes (the trace's file name first).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("status") == "ok"]
    if x is None:
        numeric = [k for k in key_cols if k != "trace" and all(_num(r.get(k)) is not None for r in ok)]
        x = "entries" if "entries" in key_cols else (numeric[-1] if numeric else key_cols[-1])
    others = [k for k in key_cols if k != x]
    lines: Dict[str, List[Mapping[str, Any]]] = {}
    for r in ok:
        label = ", ".join(os.path.basename(str(r[k])) if k == "trace" else f"{k}={r[k]}" for k in others)
        lines.setdefault(label or "all", []).append(r)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    numeric_x = all(_num(r.get(x)) is not None for r in ok)
    for label, rs in sorted(lines.items()):
        rs = sorted(rs, key=lambda r: _num(r[x]) if numeric_x else str(r[x]))
        xs = [_num(r[x]) if numeric_x else str(r[x]) for r in rs]
        ax1.plot(xs, [100 * (_num(r.get("hit_rate")) or 0) for r in rs], marker="o", label=label)
        (line,) = ax2.plot(xs, [_num(r.get("translation_p99_ns")) or 0 for r in rs], marker="o", label=label)
        ax2.plot(xs, [_num(r.get("translation_mean_ns")) or 0 for r in rs], linestyle="--", marker=".",
                 color=line.get_color())
    cache_title = "IOTLB" if cache == "iotlb" else cache
    for ax, title, ylabel in ((ax1, f"{cache_title} hit rate", "hit rate (%)"), (ax2, "translation latency: p99 (solid), mean (dashed)", "ns")):
        ax.set_title(title)
        ax.set_xlabel(x)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if numeric_x and x in ("entries", "ways") and ok and min(_num(r[x]) or 0 for r in ok) > 0:
            ax.set_xscale("log", base=2)
    ax1.set_ylim(0, 100)
    handles, labels = ax1.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=8)
        fig.tight_layout(rect=(0, 0.06 + 0.03 * ((len(labels) - 1) // 3), 1, 1))
    else:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
