"""`iommusim run` and the CLI's conventions: --help, --json, exit status 2
with FILE:LINE: reason for bad input."""
from __future__ import annotations

import json

import pytest

from conftest import SAMPLES, SOURCE

PACKETS = 300
# nic_rx with 300 packets: a 1500 B frame and a 64 B CQE per packet, and a
# 128 B descriptor read every 8 packets (38).
TXNS = 2 * PACKETS + 38
BYTES = PACKETS * 1500 + PACKETS * 64 + 38 * 128


@pytest.mark.parametrize("cmd", [["run"], ["sweep"], ["trace"], ["trace", "generate"], ["trace", "convert"],
                                 ["trace", "inspect"], ["trace", "summarize"], ["exec"], ["demo"]])
def test_every_command_has_help(sh, cmd):
    r = sh(*cmd, "--help")
    assert r.code == 0, r.err
    assert "usage" in r.out.lower() or "Usage" in r.out


def small_run(sh, *extra):
    r = sh("run", "--param", f"packets={PACKETS}", "--json", *extra)
    assert r.code == 0, r.err
    return r.json()


def cache(doc, suffix):
    (c,) = [c for c in doc["caches"] if c["name"].endswith(suffix)]
    return c


def test_default_scenario_reports_every_figure(sh, tmp_path):
    d = small_run(sh, "--plot", "p.svg")
    assert d["scenario"] == "nic_rx_100g" and d["iommu"] == "smmu0" and d["page_size"] == 4096
    assert (d["transactions"], d["errors"], d["bytes"]) == (TXNS, 0, BYTES)
    assert d["read_bytes"] == 38 * 128 and d["write_bytes"] == PACKETS * (1500 + 64)
    # Every transaction is translated once, through the micro TLB first.
    assert d["translation"]["count"] == TXNS
    assert cache(d, ".utlb")["lookups"] == TXNS
    main = cache(d, ".main_tlb")
    assert main["lookups"] == cache(d, ".utlb")["misses"]
    # A walk per main-TLB miss (SMMUv3 PMCG TLB_MISS), each reading memory.
    assert d["walks"] == main["misses"] > 0
    assert d["walk_accesses"] >= d["walks"]
    assert d["walks_per_kib"] == pytest.approx(d["walks"] / (BYTES / 1024))
    t = d["translation"]
    assert t["clock_mhz"] == 1000 and t["p50_ns"] == t["p50_cycles"] and t["p99_ns"] == t["p99_cycles"]
    assert t["p50_cycles"] <= t["mean_cycles"] <= t["p99_cycles"]
    assert 0 < d["achieved_gbps"] < 256  # memory: 32 B/cycle at 1 GHz
    assert d["host"]["transactions_per_second"] > 0
    svg = (tmp_path / "p.svg").read_text()
    assert svg.startswith("<svg") and "hit rate per cache" in svg and svg.count("<circle") == TXNS


def test_cycle_mode_is_deterministic(sh):
    a, b = small_run(sh, "--no-plot"), small_run(sh, "--no-plot")
    a.pop("host"), b.pop("host")
    assert a == b


def test_table_output(sh):
    r = sh("run", "--param", f"packets={PACKETS}", "--no-plot")
    assert r.code == 0
    for text in ("smmu0.tcu.main_tlb", "walks (IOTLB misses)", "Translation latency", "achieved bandwidth", "p99"):
        assert text in r.out


def test_larger_pages_need_fewer_walks(sh):
    small = small_run(sh, "--no-plot")
    huge = small_run(sh, "--no-plot", "--page-size", "2M")
    assert huge["page_size"] == 2 << 20
    assert huge["walks"] < small["walks"]
    assert huge["mappings"] < small["mappings"]


def test_set_overrides_the_platform(sh):
    # 64 pages, visited at random one request at a time: the 2048-entry main TLB
    # holds them all, 16 entries do not.
    work = ["--generate", "pciebench", "-p", "window=256K", "-p", "pattern=random", "-p", "count=2000", "--json",
            "--no-plot", "--outstanding", "1"]
    small = sh("run", *work, "--set", "iommus[0].main_tlb.entries=16", "--set", "iommus[0].main_tlb.ways=0").json()
    big = sh("run", *work).json()
    assert small["sets"] == {"iommus[0].main_tlb.entries": "16", "iommus[0].main_tlb.ways": "0"}
    assert cache(big, ".main_tlb")["misses"] == 64  # compulsory misses only
    assert cache(small, ".main_tlb")["misses"] > 64
    assert small["walks"] == cache(small, ".main_tlb")["misses"]


def test_requests_in_flight(sh):
    one = sh("run", "--param", f"packets={PACKETS}", "--outstanding", "1", "--json", "--no-plot").json()
    many = sh("run", "--param", f"packets={PACKETS}", "--json", "--no-plot").json()
    assert (one["outstanding"], many["outstanding"]) == (1, 16)
    # One at a time, a frame's three DMAs take longer than its 122 ns slot at 100 Gb/s;
    # with 16 in flight the NIC keeps up with the wire.
    assert one["achieved_gbps"] < 60 < 95 < many["achieved_gbps"]
    assert one["transactions"] == many["transactions"] == TXNS


def test_scenario_file_with_trace_and_inline_platform(sh, tmp_path):
    (tmp_path / "s.yaml").write_text(f"""
name: pcie_window <&>
page_size: 4K
platform: {SOURCE}/sim/configs/smmuv3_default.yaml
workloads:
  - trace: {SAMPLES}/pciebench_seq.trace
set:
  iommus[0].micro_tlb.entries: 8
""")
    r = sh("run", "s.yaml", "--json", "--plot", "s.svg")
    assert r.code == 0, r.err
    d = r.json()
    assert (d["scenario"], d["transactions"], d["errors"]) == ("pcie_window <&>", 64, 0)
    import xml.etree.ElementTree as ET

    assert "pcie_window <&>" in "".join(ET.parse(tmp_path / "s.svg").getroot().itertext())
    assert d["workloads"] == [{"trace": f"{SAMPLES}/pciebench_seq.trace", "records": 64}]


@pytest.mark.parametrize("text,message", [
    ("name: x\nbogus: 1\n", "s.yaml:2:1: unknown key 'bogus'"),
    ("name: x\npage_size: 3K\nworkloads: [{generate: nic_rx}]\n", "s.yaml:2:12: page_size: '3K' is not one of"),
    ("workloads:\n  - {generate: nic_rx, trace: a.trace}\n", "s.yaml:2:5: a workload needs exactly one of trace and generate"),
    ("workloads: [{generate: nic_rx, params: {packets: many}}]\n", "packets: 'many' is not an unsigned integer"),
    ("workloads: [{trace: missing.trace}]\n", "missing.trace: cannot open: No such file or directory"),
    ("workloads: [\n", "s.yaml:2:1:"),
])
def test_bad_scenarios_exit_2_with_file_line_reason(sh, tmp_path, text, message):
    (tmp_path / "s.yaml").write_text(text)
    r = sh("run", "s.yaml", "--no-plot")
    assert r.code == 2
    assert message in r.err


def test_bad_platform_values_are_config_errors(sh):
    r = sh("run", "--param", "packets=10", "--no-plot", "--set", "iommus[0].main_tlb.ways=3", "--json")
    assert r.code == 2
    err = json.loads(r.out)
    assert err["exit_status"] == 2 and "main_tlb" in err["error"] and "(as run)" in err["error"]
    r = sh("run", "--no-plot", "--set", "iommus[5].main_tlb.ways=4")
    assert r.code == 2 and "index 5 is past the list's 1 entries" in r.err
    r = sh("run", "--no-plot", "--set", "novalue")
    assert r.code == 2 and "--set novalue: expected KEY=VALUE" in r.err
    r = sh("run", "--no-plot", "--page-size", "3K")
    assert r.code == 2


def test_platform_devices_give_way_to_the_workloads_stream_ids(sh):
    # smmuv3_default.yaml's dma0 has StreamID 0x10, nic_rx's default: the replayer takes it.
    r = sh("run", "--platform", str(SOURCE / "sim" / "configs" / "smmuv3_default.yaml"), "--param", "packets=20",
           "--no-plot", "--json")
    assert r.code == 0, r.err
    assert r.json()["dropped_devices"] == ["dma0"] and r.json()["transactions"] == 43


def test_model_picks_a_built_in_platform(sh):
    r = sh("run", "--model", "nope", "--no-plot")
    assert r.code == 2 and "--model nope: no built-in platform for it (built-in: smmuv3, vtd)" in r.err
    r = sh("run", "--model", "smmuv3", "--platform", "x.yaml", "--no-plot")
    assert r.code == 2 and "give one of them" in r.err
    r = sh("run", "--model", "vtd", "--param", f"packets={PACKETS}", "--no-plot", "--json")
    if r.code == 2 and "iommus[0].type" in r.err:
        pytest.skip("this build's platform has no VT-d yet")
    assert r.code == 0, r.err
    d = r.json()
    assert (d["model"], d["iommu"], d["transactions"], d["errors"]) == ("vtd", "dmar0", TXNS, 0)
    assert d["walks"] == cache(d, ".iotlb")["misses"] > 0
    assert cache(d, ".iotlb")["lookups"] == TXNS


def test_gigabyte_pages_map_around_the_reserved_msi_window(sh, tmp_path):
    # IOVA 0x800_0000 is the SMMU's reserved MSI window: a trace may not touch
    # it, and a 1 GiB chunk around it is mapped minus that hole.
    (tmp_path / "msi.trace").write_text("0 0x10 - 0x8000000 8 R\n")
    r = sh("run", "--trace", "msi.trace", "--no-plot")
    assert r.code == 2
    assert "workload record 1: address 0x8000000 is outside the IOVA ranges the IOMMU allows" in r.err
    (tmp_path / "low.trace").write_text("0 0x10 - 0x1000 8 R\n0 0x10 - 0x3ff00000 8 W\n")
    d = sh("run", "--trace", "low.trace", "--page-size", "1G", "--no-plot", "--json").json()
    assert (d["transactions"], d["errors"]) == (2, 0)
    assert d["mappings"] == 2 and d["mapped_bytes"] < 1 << 30


def test_unknown_options_exit_2(sh):
    r = sh("run", "--bogus")
    assert r.code == 2 and "--bogus" in r.err
