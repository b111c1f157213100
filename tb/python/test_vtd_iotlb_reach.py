"""The VT-d IOTLB-reach scenario (python/iommusim/reach.py): the pcie-bench
window sweep through sim/configs/vtd_default.yaml (64-entry IOTLB, 4 KiB
pages) puts the knee between 256 KiB and 512 KiB, and the knee is the IOTLB's."""
from __future__ import annotations

import pytest

from conftest import SOURCE
from iommusim import reach

PLATFORM = str(SOURCE / "sim" / "configs" / "vtd_default.yaml")
COUNT = 16000
K = 1024


@pytest.fixture(scope="module")
def rows(cli):
    return {r["window"]: r for r in reach.window_sweep(count=COUNT, platform=PLATFORM, cli=cli, jobs=2)}


def test_every_window_ran(rows):
    assert sorted(rows) == [4 * K << i for i in range(15)]  # 4 KiB .. 64 MiB
    for r in rows.values():
        assert (r["transactions"], r["errors"], r["iotlb_lookups"]) == (COUNT, 0, COUNT)


def test_knee_between_256k_and_512k(rows):
    assert reach.knee(list(rows.values())) == (256 * K, 512 * K)
    lo, hi = rows[256 * K], rows[512 * K]
    assert lo["iotlb_miss_rate"] < 0.05
    assert hi["iotlb_miss_rate"] > 0.45
    assert hi["mean_ns"] > 5 * lo["mean_ns"]
    assert hi["achieved_gbps"] < 0.6 * lo["achieved_gbps"]


def test_within_reach_every_translation_is_a_hit(rows):
    # Only compulsory misses (one per page, plus reads in flight to a page being walked).
    for w in (4 * K << i for i in range(7)):
        assert rows[w]["iotlb_misses"] < rows[w]["pages"] + 16
        # Scalable-mode IOTLB hit: ingress 1 + context cache 2 + PASID cache 2 + IOTLB 2 (docs/vtd.md).
        assert rows[w]["p99_ns"] == 7


def test_beyond_reach_miss_rate_is_lru_under_random_access(rows):
    # A 64-entry LRU cache under uniform random access to N pages hits 64/N.
    for w in (512 * K << i for i in range(8)):
        expect = 1 - 64 / rows[w]["pages"]
        assert abs(rows[w]["iotlb_miss_rate"] - expect) < 0.02, (w, rows[w]["iotlb_miss_rate"], expect)
    # The PDE cache (32 entries x 2 MiB) covers 64 MiB: a walk is one leaf read.
    assert rows[64 << 20]["walk_accesses"] < 1.01 * rows[64 << 20]["iotlb_misses"]


def test_latency_and_bandwidth_are_monotonic(rows):
    seq = [rows[w] for w in sorted(rows)]
    for a, b in zip(seq, seq[1:]):
        assert b["mean_ns"] >= a["mean_ns"]
        assert b["achieved_gbps"] <= a["achieved_gbps"] + 1e-9


def test_deterministic(cli, rows):
    again = reach.run_window(512 * K, count=COUNT, platform=PLATFORM, model=None, cli=cli)
    assert again == rows[512 * K]


def test_twice_the_iotlb_moves_the_knee(cli):
    # 128 entries reach 512 KiB: the knee moves one window up, so it is the IOTLB's.
    big = reach.window_sweep([512 * K, 1 << 20], count=COUNT, platform=PLATFORM, cli=cli, jobs=2,
                             sets={"iommus[0].iotlb.entries": 128})
    assert big[0]["iotlb_miss_rate"] < 0.05
    assert big[1]["iotlb_miss_rate"] > 0.45


def test_command_line_prints_the_table(cli, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("IOMMUSIM_CLI", cli)
    csv = tmp_path / "knee.csv"
    assert reach.main(["--platform", PLATFORM, "--min", "256K", "--max", "512K", "--count", "2000",
                       "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["window", "pages", "IOTLB"]
    assert "knee: between 256KiB and 512KiB" in out
    assert csv.read_text().splitlines()[0].startswith("window,pages,transactions,errors,iotlb_lookups")
    assert len(csv.read_text().splitlines()) == 3
    assert reach.main(["--platform", PLATFORM, "--set", "nokey"]) == 2
    assert reach.main(["--platform", PLATFORM, "--min", "1M", "--max", "4K"]) == 2
    assert reach.main(["--platform", PLATFORM, "--min", "3K", "--max", "3K"]) == 2  # not a 4 KiB multiple
