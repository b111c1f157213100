"""Design-space sweeps: cache geometry, replacement policy, page size and
IOMMU model over traces, one `iommusim run` process per point.

Points run on local cores (a thread per job, each waiting on its own
simulator process) or on a Dask distributed cluster (``scheduler=ADDRESS``;
its workers need the iommusim package importable and the iommusim executable
on PATH or in IOMMUSIM_CLI). Every finished point is appended to the CSV at
once, so an interrupted sweep resumes from its CSV (``resume=True``) and only
the missing points run.
"""
from __future__ import annotations

import csv
import itertools
import math
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .run import RunError, cli_path, run_args, run_cli

POLICIES = ("lru", "plru", "round_robin", "rr", "random")
# The cache key of each model's IOTLB: what --cache iotlb (the default) means.
IOTLB_KEY = {"smmuv3": "main_tlb", "vtd": "iotlb"}
# Statistics group (name suffix) of a cache config key, where the two differ.
GROUP_OF_KEY = {"micro_tlb": "utlb", "config_cache": "cfg_cache"}
PAGE_SIZES = ("4K", "16K", "64K", "2M", "32M", "512M", "1G")

METRICS = ["status", "error", "transactions", "errors", "hit_rate", "utlb_hit_rate", "walks_per_kib",
           "walk_accesses_per_kib", "translation_mean_cycles", "translation_p50_cycles", "translation_p99_cycles",
           "translation_mean_ns", "translation_p50_ns", "translation_p99_ns", "dma_p99_ns", "achieved_gbps",
           "sim_time_ns", "host_s"]


class SweepError(ValueError):
    """Bad sweep input: 'FILE:LINE: reason' or 'OPTION: reason'."""


@dataclass
class Axis:
    """One swept dimension: a column name, what it sets, and its values.

    ``key`` is ``"trace"``, ``"page_size"``, ``"platform"``, ``"model"`` or a
    platform override path such as ``"iommus[0].main_tlb.entries"``; ``{cache}``
    in a path stands for the swept cache's key of the point's model.
    """

    name: str
    key: str
    values: List[str] = field(default_factory=list)


def standard_axes(traces: Sequence[str], *, entries: Sequence[int] = (), ways: Sequence[int] = (),
                  policy: Sequence[str] = (), page_size: Sequence[str] = (), model: Sequence[str] = (),
                  platforms: Sequence[str] = (), cache: str = "iotlb", iommu: int = 0,
                  extra: Sequence[Axis] = ()) -> List[Axis]:
    """The axes of the usual sizing sweep; empty sequences are left out (the trace axis is always there)."""
    if not traces:
        raise SweepError("--trace: give at least one trace")
    pre = f"iommus[{iommu}]"
    axes = [Axis("trace", "trace", [os.fspath(t) for t in traces])]
    if platforms:
        axes.append(Axis("platform", "platform", [os.fspath(p) for p in platforms]))
    if model:
        axes.append(Axis("model", "model", list(model)))
    if page_size:
        for p in page_size:
            if p not in PAGE_SIZES:
                raise SweepError(f"--page-size: '{p}' is not one of {', '.join(PAGE_SIZES)}")
        axes.append(Axis("page_size", "page_size", list(page_size)))
    if policy:
        for p in policy:
            if p not in POLICIES:
                raise SweepError(f"--policy: '{p}' is not one of {', '.join(POLICIES)}")
        axes.append(Axis("policy", pre + ".{cache}.policy", list(policy)))
    if ways:
        axes.append(Axis("ways", pre + ".{cache}.ways", [str(int(w)) for w in ways]))
    if entries:
        axes.append(Axis("entries", pre + ".{cache}.entries", [str(int(e)) for e in entries]))
    axes.extend(extra)
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise SweepError(f"axes: a column name is used twice ({', '.join(names)})")
    return axes


def points(axes: Sequence[Axis]) -> List[Dict[str, str]]:
    """Every combination of the axes' values, in a fixed order (the last axis fastest)."""
    return [dict(zip([a.name for a in axes], combo)) for combo in itertools.product(*[a.values for a in axes])]


def _platform_model(path: str) -> str:
    """iommus[0].type of a platform file ('smmuv3' when it does not say)."""
    import yaml

    try:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
        return str(((doc.get("iommus") or [{}])[0] or {}).get("type", "smmuv3"))
    except (OSError, yaml.YAMLError, AttributeError, IndexError):
        return "smmuv3"  # the run reports the file's own error


def _spec(point: Mapping[str, str], axes: Sequence[Axis], cache: str, base: Mapping[str, Any]) -> Dict[str, Any]:
    sets = dict(base.get("sets") or {})
    spec: Dict[str, Any] = {"point": dict(point), "scenario": base.get("scenario"), "cli": base.get("cli"),
                            "timeout": base.get("timeout"), "platform": base.get("platform"), "model": None,
                            "page_size": None, "traces": []}
    for a in axes:
        v = point[a.name]
        if a.key == "trace":  # absolute: a Dask worker's cwd is not ours
            spec["traces"].append(os.path.abspath(v))
        elif a.key == "page_size":
            spec["page_size"] = v
        elif a.key == "platform":
            spec["platform"] = os.path.abspath(v)
        elif a.key == "model":
            spec["model"] = v
    model = spec["model"] or (_platform_model(spec["platform"]) if spec["platform"] else "smmuv3")
    spec["cache"] = IOTLB_KEY.get(model, "iotlb") if cache == "iotlb" else cache
    for a in axes:
        if a.key not in ("trace", "page_size", "platform", "model"):
            sets[a.key.replace("{cache}", spec["cache"])] = point[a.name]
    spec["sets"] = sets
    return spec


def run_point(spec: Mapping[str, Any]) -> Dict[str, Any]:
    """Run one sweep point (in any process: local thread or Dask worker) and return its CSV row."""
    t0 = time.monotonic()
    row: Dict[str, Any] = dict(spec["point"])
    try:
        args = run_args(spec.get("scenario"), traces=spec.get("traces") or (), sets=spec.get("sets"),
                        page_size=spec.get("page_size"), platform=spec.get("platform"), model=spec.get("model"))
        r = run_cli(args, cli=spec.get("cli") or cli_path(), timeout=spec.get("timeout"))
    except RunError as e:
        # Killed by a signal (Ctrl-C reaches the simulator too): not a result.
        status = "interrupted" if e.exit_status < 0 else "error"
        row.update(status=status, error=str(e).replace("\n", " | "), host_s=round(time.monotonic() - t0, 3))
        return row
    except Exception as e:  # noqa: BLE001 - a timeout or a dead worker is a row, not a crash
        row.update(status="error", error=f"{type(e).__name__}: {e}", host_s=round(time.monotonic() - t0, 3))
        return row
    cache = spec.get("cache") or "main_tlb"
    group = GROUP_OF_KEY.get(cache, cache)
    hit = [c for c in r["caches"] if c["name"].endswith("." + group)]
    utlb = [c for c in r["caches"] if c["name"].endswith(".utlb")]

    def rate(cs: List[Dict[str, Any]]) -> Optional[float]:
        n = sum(c["lookups"] for c in cs)
        return sum(c["hits"] for c in cs) / n if n else None

    t = r["translation"]
    row.update(status="ok", error="", transactions=r["transactions"], errors=r["errors"], hit_rate=rate(hit),
               utlb_hit_rate=rate(utlb), walks_per_kib=r["walks_per_kib"],
               walk_accesses_per_kib=r["walk_accesses_per_kib"],
               translation_mean_cycles=t.get("mean_cycles"), translation_p50_cycles=t.get("p50_cycles"),
               translation_p99_cycles=t.get("p99_cycles"), translation_mean_ns=t.get("mean_ns"),
               translation_p50_ns=t.get("p50_ns"), translation_p99_ns=t.get("p99_ns"),
               dma_p99_ns=r["dma_latency_ns"]["p99"], achieved_gbps=r["achieved_gbps"],
               sim_time_ns=r["sim_time_ns"], host_s=round(time.monotonic() - t0, 3))
    return row


class Progress:
    """A progress bar with an ETA on stderr (one line per point when stderr is not a terminal)."""

    def __init__(self, total: int, done: int = 0, enabled: bool = True, stream: Any = None) -> None:
        self.total, self.done, self.start_done = total, done, done
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    @staticmethod
    def _hms(s: float) -> str:
        s = int(round(s))
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"

    def eta(self) -> Optional[float]:
        """Seconds left, from the mean time of the points done in this session."""
        ran = self.done - self.start_done
        if ran <= 0:
            return None
        return (time.monotonic() - self.t0) / ran * (self.total - self.done)

    def line(self) -> str:
        """The bar as text."""
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * 30) + "." * (30 - int(frac * 30))
        eta = self.eta()
        return (f"[{bar}] {self.done}/{self.total} {100 * frac:3.0f}% elapsed {self._hms(time.monotonic() - self.t0)} "
                f"ETA {self._hms(eta) if eta is not None else '?:??:??'}")

    def step(self, label: str = "") -> None:
        """One more point done."""
        self.done += 1
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + self.line())
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(self.line() + (f"  {label}" if label else "") + "\n")
        self.stream.flush()


def _read_done(path: str, columns: List[str], key_cols: List[str]) -> Tuple[List[Dict[str, str]], set]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != columns:
            raise SweepError(f"{path}:1: its columns ({', '.join(reader.fieldnames or [])}) are not this sweep's "
                             f"({', '.join(columns)}); resume with the same axes, or write a new file")
        rows = list(reader)
    return rows, {tuple(r[k] for k in key_cols) for r in rows}


def _check_traces(traces: Iterable[str], cli: str) -> None:
    for t in traces:
        if not os.path.exists(t):
            raise SweepError(f"{t}: cannot open: No such file or directory")
        try:
            run_cli(["trace", "summarize", t, "--json"], cli=cli)
        except RunError as e:
            raise SweepError(str(e).removeprefix("iommusim trace: ")) from None


def sweep(axes: Sequence[Axis], output: str, *, cache: str = "iotlb", scenario: Optional[str] = None,
          platform: Optional[str] = None, sets: Optional[Mapping[str, Any]] = None, jobs: Optional[int] = None, scheduler: Optional[str] = None,
          resume: bool = False, plot: Optional[str] = None, progress: bool = True, timeout: Optional[float] = None,
          cli: Optional[str] = None, on_row: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
    """Run every point of axes, appending rows to the CSV ``output``; plot if asked.

    Returns {csv, plot, points, ran, skipped, errors, seconds, rows}. Raises
    :class:`SweepError` for bad input before anything runs.
    """
    t0 = time.monotonic()
    exe = cli or cli_path()
    trace_axes = [a for a in axes if a.key == "trace"]
    if trace_axes:
        _check_traces(trace_axes[0].values, exe)
    if jobs is not None and jobs < 1:
        raise SweepError("--jobs: must be at least 1")
    key_cols = [a.name for a in axes]
    columns = key_cols + METRICS
    pts = points(axes)
    done_rows: List[Dict[str, Any]] = []
    done_keys: set = set()
    if resume and os.path.exists(output):
        done_rows, done_keys = _read_done(output, columns, key_cols)
    todo = [p for p in pts if tuple(p[k] for k in key_cols) not in done_keys]
    new_file = not (resume and os.path.exists(output))
    f = open(output, "w" if new_file else "a", newline="")
    writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
    if new_file:
        writer.writeheader()
        f.flush()
    lock = threading.Lock()
    bar = Progress(len(pts), len(pts) - len(todo), enabled=progress)
    if scenario:
        scenario = os.path.abspath(scenario)
    if platform:
        platform = os.path.abspath(platform)
    base = {"sets": dict(sets or {}), "scenario": scenario, "platform": platform, "cli": None if scheduler else exe, "timeout": timeout}
    specs = [_spec(p, axes, cache, base) for p in todo]
    rows: List[Dict[str, Any]] = []

    def record(row: Dict[str, Any]) -> None:
        if row.get("status") == "interrupted":  # left out of the CSV: --resume runs it again
            return
        with lock:
            writer.writerow(row)
            f.flush()
            rows.append(row)
            bar.step(" ".join(f"{k}={row[k]}" for k in key_cols if k != "trace") + f" {row['status']}")
            if on_row:
                on_row(row)

    try:
        if scheduler:
            try:
                from distributed import Client
                from distributed import as_completed as dask_completed
            except ImportError as e:
                raise SweepError(f"--scheduler: Dask distributed is not installed ({e}); apt-get install python3-distributed") from None
            try:
                client = Client(scheduler, timeout=30)
            except (OSError, TimeoutError) as e:
                raise SweepError(f"--scheduler {scheduler}: cannot connect: {e}") from None
            try:
                futs = {client.submit(run_point, s, pure=False): s for s in specs}
                for fut in dask_completed(list(futs)):
                    try:
                        row = fut.result()
                    except Exception as e:  # noqa: BLE001 - e.g. a worker without the package
                        row = dict(futs[fut]["point"], status="error", error=f"{type(e).__name__}: {e}")
                    record(row)
            finally:
                client.close()
        else:
            n = jobs or os.cpu_count() or 1
            with ThreadPoolExecutor(max_workers=n) as pool:
                futs = [pool.submit(run_point, s) for s in specs]
                for fut in as_completed(futs):
                    record(fut.result())
    finally:
        f.close()
    all_rows = done_rows + rows
    # Complete: rewrite the CSV in point order (it was appended as points finished).
    order = {tuple(p[k] for k in key_cols): i for i, p in enumerate(pts)}
    if len(all_rows) == len(pts):
        all_rows.sort(key=lambda r: order.get(tuple(str(r[k]) for k in key_cols), len(pts)))
        tmp = output + ".tmp"
        with open(tmp, "w", newline="") as out:
            w = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(all_rows)
        os.replace(tmp, output)
    plot_path = None
    if plot:
        from .plot import plot_sweep

        plot_path = plot_sweep(all_rows, plot, key_cols, cache=cache)
    return {"csv": output, "plot": plot_path, "points": len(pts), "ran": len(rows), "skipped": len(pts) - len(todo),
            "errors": sum(1 for r in rows if r.get("status") != "ok"), "seconds": round(time.monotonic() - t0, 3),
            "rows": rows}


def parse_axis(text: str) -> Axis:
    """'[NAME:]KEY=v1,v2,...' -> Axis (NAME defaults to the KEY's last part)."""
    if "=" not in text:
        raise SweepError(f"--axis {text}: expected [NAME:]KEY=V1,V2,...")
    lhs, vals = text.split("=", 1)
    name, key = lhs.split(":", 1) if ":" in lhs else (None, lhs)
    values = [v for v in vals.split(",") if v != ""]
    if not key or not values:
        raise SweepError(f"--axis {text}: expected [NAME:]KEY=V1,V2,...")
    if name is None:
        name = re.sub(r"[\[\].]+", "_", key).strip("_")
    return Axis(name, key, values)


def sizes(text: str, what: str) -> List[int]:
    """'256,512,1K' -> [256, 512, 1024]; also 'A..B' as powers of two from A to B."""
    out: List[int] = []

    def one(t: str) -> int:
        t = t.strip()
        mult = 1
        if t[-1:] in "KkMm":
            mult = 1024 if t[-1] in "Kk" else 1 << 20
            t = t[:-1]
        try:
            v = int(t, 0) * mult
        except ValueError:
            raise SweepError(f"{what}: '{t}' is not an integer") from None
        if v < 0:
            raise SweepError(f"{what}: '{t}' is negative")
        return v

    for part in text.split(","):
        if ".." in part:
            a, b = (one(x) for x in part.split("..", 1))
            if a <= 0 or a & (a - 1) or b < a:
                raise SweepError(f"{what}: '{part}' must be A..B with A a power of two and B >= A")
            v = a
            while v <= b:
                out.append(v)
                v *= 2
        elif part:
            out.append(one(part))
    if not out:
        raise SweepError(f"{what}: no values")
    return out


def configs_per_minute(result: Mapping[str, Any]) -> float:
    """Sweep throughput of a result: points run per wall-clock minute."""
    s = result.get("seconds") or 0
    return 60.0 * result.get("ran", 0) / s if s else math.nan
