"""`iommusim sweep` on local cores: CSV, plot, progress, resume, bad input."""
from __future__ import annotations

import json
import os

import pytest

from sweep_util import by_point, rows


@pytest.fixture
def trace(sh, tmp_path):
    # 64 pages of a 256 KiB window at random: the hit rate climbs with entries.
    assert sh("trace", "generate", "pciebench", "-o", "w.itrc", "-s", "window=256K", "-s", "pattern=random",
              "-s", "count=600").code == 0
    return str(tmp_path / "w.itrc")


def test_sweep_writes_csv_plot_and_progress(sh, tmp_path, trace):
    r = sh("sweep", "-t", trace, "--entries", "16..64", "--policy", "lru,plru", "-o", "s.csv", "-j", "2", "--json")
    assert r.code == 0, r.err
    j = r.json()
    assert (j["points"], j["ran"], j["skipped"], j["errors"]) == (6, 6, 0, 0)
    assert j["plot"] == "s.png" and (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert j["configs_per_minute"] > 0
    rs = rows(tmp_path / "s.csv")
    assert [(r["policy"], r["entries"]) for r in rs] and len(rs) == 6
    assert all(r["status"] == "ok" and r["transactions"] == "600" and r["errors"] == "0" for r in rs)
    for pol in ("lru", "plru"):
        hits = [float(r["hit_rate"]) for r in sorted((r for r in rs if r["policy"] == pol), key=lambda r: int(r["entries"]))]
        assert hits == sorted(hits) and hits[0] < hits[-1]
    # The progress bar, with an ETA, one line a point (stderr is not a terminal here).
    lines = [ln for ln in r.err.splitlines() if ln.startswith("[")]
    assert len(lines) == 6 and "6/6 100%" in lines[-1] and "ETA" in lines[0]


def test_resume_runs_only_the_missing_points(sh, tmp_path, trace):
    assert sh("sweep", "-t", trace, "--entries", "16,32,64", "-o", "s.csv", "--no-plot", "-q").code == 0
    full = rows(tmp_path / "s.csv")
    lines = (tmp_path / "s.csv").read_text().splitlines(keepends=True)
    (tmp_path / "s.csv").write_text("".join(lines[:-1]))  # an interrupted sweep
    r = sh("sweep", "-t", trace, "--entries", "16,32,64", "-o", "s.csv", "--no-plot", "--resume", "--json", "-q")
    assert r.code == 0, r.err
    assert (r.json()["ran"], r.json()["skipped"]) == (1, 2)
    keys = ["trace", "entries"]
    assert by_point(rows(tmp_path / "s.csv"), keys) == by_point(full, keys)
    # Resuming with other axes is refused before anything runs.
    r = sh("sweep", "-t", trace, "--entries", "16", "--ways", "0", "-o", "s.csv", "--resume")
    assert r.code == 2 and "s.csv:1: its columns" in r.err


def test_cache_option_sizes_the_micro_tlb(sh, tmp_path, trace):
    r = sh("sweep", "-t", trace, "--cache", "micro_tlb", "--entries", "4,64", "-o", "u.csv", "--no-plot", "-q")
    assert r.code == 0, r.err
    rs = {row["entries"]: row for row in rows(tmp_path / "u.csv")}
    # The swept cache's hit rate is the micro TLB's (group 'utlb').
    assert rs["4"]["hit_rate"] == rs["4"]["utlb_hit_rate"]
    assert float(rs["4"]["hit_rate"]) < float(rs["64"]["hit_rate"])


def test_a_bad_point_is_a_row_not_a_crash(sh, tmp_path, trace):
    # 3 ways cannot be PLRU (nor divide 16 entries): that point's config is rejected.
    r = sh("sweep", "-t", trace, "--entries", "16", "--ways", "0,3", "--policy", "plru", "-o", "s.csv", "--no-plot",
           "-q", "--json")
    assert r.code == 1
    rs = {row["ways"]: row for row in rows(tmp_path / "s.csv")}
    assert rs["0"]["status"] == "ok"
    assert rs["3"]["status"] == "error" and "main_tlb" in rs["3"]["error"]


def test_model_axis_runs_each_model_on_its_platform(sh, tmp_path, trace):
    r = sh("sweep", "-t", trace, "--model", "smmuv3,vtd,no_such_iommu", "--entries", "16,64", "-o", "m.csv",
           "--no-plot", "-q")
    assert r.code == 1
    rs = {(row["model"], row["entries"]): row for row in rows(tmp_path / "m.csv")}
    assert rs[("smmuv3", "16")]["status"] == "ok"
    # The IOTLB the entries axis sizes is each model's own: SMMUv3 main_tlb, VT-d iotlb.
    assert float(rs[("smmuv3", "16")]["hit_rate"]) < float(rs[("smmuv3", "64")]["hit_rate"])
    assert rs[("no_such_iommu", "16")]["status"] == "error"
    assert "--model no_such_iommu: no built-in platform for it" in rs[("no_such_iommu", "16")]["error"]
    if "must be one of smmuv3," in rs[("vtd", "16")]["error"] and "vtd" not in rs[("vtd", "16")]["error"].split("found")[0]:
        pytest.skip("this build's platform has no VT-d yet")
    assert rs[("vtd", "16")]["status"] == "ok", rs[("vtd", "16")]["error"]
    assert float(rs[("vtd", "16")]["hit_rate"]) < float(rs[("vtd", "64")]["hit_rate"])


@pytest.mark.parametrize("args,message", [
    (["-t", "missing.itrc", "--entries", "16"], "missing.itrc: cannot open: No such file or directory"),
    (["--entries", "16"], "--trace: give at least one trace"),
    (["-t", "{trace}", "--entries", "16,abc"], "--entries: 'abc' is not an integer"),
    (["-t", "{trace}", "--policy", "fifo"], "--policy: 'fifo' is not one of"),
    (["-t", "{trace}", "--page-size", "3K"], "--page-size: '3K' is not one of"),
    (["-t", "{trace}", "--axis", "nonsense"], "--axis nonsense: expected [NAME:]KEY=V1,V2,..."),
    (["-t", "{trace}", "--jobs", "0"], "--jobs: must be at least 1"),
    (["-t", "bad.trace"], "bad.trace:1: direction must be R or W, got 'X'"),
])
def test_bad_input_exits_2(sh, tmp_path, trace, args, message):
    (tmp_path / "bad.trace").write_text("0 1 - 0 8 X\n")
    r = sh("sweep", *[a.format(trace=trace) for a in args], "-o", "s.csv", "--json")
    assert r.code == 2, r.err
    assert message in r.err
    assert json.loads(r.out)["exit_status"] == 2


def test_python_api_sweep(tmp_path, trace):
    import iommusim
    from iommusim.sweeps import standard_axes

    axes = standard_axes([trace], entries=[16, 64], page_size=["4K", "2M"])
    res = iommusim.sweep(axes, str(tmp_path / "a.csv"), jobs=2, progress=False)
    assert (res["points"], res["ran"], res["errors"]) == (4, 4, 0)
    got = {(r["page_size"], r["entries"]): r for r in res["rows"]}
    # One 2 MiB block maps the whole window: at most one walk.
    assert got[("2M", "16")]["walks_per_kib"] < got[("4K", "16")]["walks_per_kib"]


def test_ctrl_c_then_resume(cli, sh, tmp_path):
    import signal
    import subprocess
    import time

    assert sh("trace", "generate", "nic_rx", "-o", "rx.itrc", "-s", "packets=6000").code == 0
    args = [cli, "sweep", "-t", "rx.itrc", "--entries", "16..32768", "-o", "s.csv", "--no-plot", "-j", "1"]
    p = subprocess.Popen(args, cwd=tmp_path, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(rows(tmp_path / "s.csv") if (tmp_path / "s.csv").exists() else []) < 2:
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the sweep and its simulators
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "rerun with --resume" in err
    kept = rows(tmp_path / "s.csv")
    assert 2 <= len(kept) < 12 and all(r["status"] == "ok" for r in kept)
    r = sh("sweep", "-t", "rx.itrc", "--entries", "16..32768", "-o", "s.csv", "--no-plot", "-j", "2", "--resume",
           "--json", "-q")
    assert r.code == 0, r.err
    assert (r.json()["skipped"], r.json()["ran"]) == (len(kept), 12 - len(kept))
    assert [int(x["entries"]) for x in rows(tmp_path / "s.csv")] == [16 << i for i in range(12)]
