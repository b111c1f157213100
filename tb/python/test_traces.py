"""The trace format (traces/FORMAT.md): both forms, zstd, lossless round
trips between C++ and Python, generators, and bad files."""
from __future__ import annotations

import struct

import pytest

from conftest import SAMPLES
from iommusim import traces

R = traces.Record


def test_binary_bytes_are_exactly_the_documented_layout(tmp_path):
    recs = [R(5, 0x10, None, 0x1000, 64, True), R(0, 0x11, 7, 0x2ff0, 16, False, ats=True, pri=True)]
    data = traces.encode(recs, "binary")
    assert data[:32] == b"IOMMUTRC" + struct.pack("<HHIQII", 1, 32, 0, 2, 32, 0)
    assert data[32:64] == struct.pack("<QQIIIB3x", 5, 0x1000, 0x10, 0, 64, 1)
    assert data[64:96] == struct.pack("<QQIIIB3x", 0, 0x2ff0, 0x11, 7, 16, 2 | 4 | 8)
    assert len(data) == 96


def test_text_canonical_form():
    recs = [R(5, 0x10, None, 0x1000, 64, True), R(0, 0x11, 7, 0x2ff0, 16, False, ats=True, pri=True)]
    assert traces.encode(recs, "text").decode() == (
        "# iommusim-trace v1\n5 0x10 - 0x1000 64 W\n0 0x11 7 0x2ff0 16 R ats pri\n")


def test_cli_and_python_agree_and_round_trip_losslessly(sh, tmp_path):
    assert sh("trace", "generate", "nvme", "-o", "a.trace", "-s", "commands=20", "-s", "io_size=16K").code == 0
    text = (tmp_path / "a.trace").read_bytes()
    for name in ("b.itrc", "c.itrc.zst", "d.trace.zst"):
        assert sh("trace", "convert", "a.trace", name).code == 0
    assert sh("trace", "convert", "c.itrc.zst", "e.trace").code == 0
    assert (tmp_path / "e.trace").read_bytes() == text  # text -> binary+zstd -> text, byte for byte
    recs = traces.read(tmp_path / "a.trace")
    for name in ("b.itrc", "c.itrc.zst", "d.trace.zst"):
        assert traces.read(tmp_path / name) == recs
    # Python writes what C++ writes.
    assert traces.encode(recs, "binary") == (tmp_path / "b.itrc").read_bytes()
    assert traces.encode(recs, "text") == text
    traces.write(tmp_path / "f.itrc.zst", recs)
    assert sh("trace", "convert", "f.itrc.zst", "g.itrc").code == 0
    assert (tmp_path / "g.itrc").read_bytes() == (tmp_path / "b.itrc").read_bytes()
    # zstd helps: the compressed binary is far smaller than the raw one.
    assert (tmp_path / "c.itrc.zst").stat().st_size * 5 < (tmp_path / "b.itrc").stat().st_size


def test_generator_record_counts_and_determinism(sh, tmp_path):
    cases = {
        # 100 packets: a frame and a CQE each, a descriptor read every 8 -> 13.
        ("nic_rx", "packets=100"): 213,
        # 10 commands of 32 pages: SQE + PRP list + 32 pages + CQE.
        ("nvme", "commands=10"): 350,
        ("pciebench", "count=64"): 64,
        # 2 x 2 tiles of 32 rows read and 32 written.
        ("gpu", "rows=64", "cols=64"): 256,
        ("gpu", "mode=divergent", "warps=10"): 320,
    }
    for (kind, *params), n in cases.items():
        sets = [a for p in params for a in ("-s", p)]
        r1 = sh("trace", "generate", kind, "-o", "x.itrc", *sets, "--json")
        assert r1.code == 0, r1.err
        assert r1.json()["records"] == n, kind
        first = (tmp_path / "x.itrc").read_bytes()
        assert sh("trace", "generate", kind, "-o", "x.itrc", *sets).code == 0
        assert (tmp_path / "x.itrc").read_bytes() == first, f"{kind} is not deterministic"


def test_a_window_sweep_writes_one_trace_per_value(sh, tmp_path):
    r = sh("trace", "generate", "pciebench", "-s", "window=16K,1M", "-s", "count=100", "-s", "pattern=random",
           "-o", "pb_w{window}.itrc.zst", "--json")
    assert r.code == 0, r.err
    assert [f["output"] for f in r.json()["files"]] == ["pb_w16K.itrc.zst", "pb_w1M.itrc.zst"]
    small, big = (traces.read(tmp_path / n) for n in ("pb_w16K.itrc.zst", "pb_w1M.itrc.zst"))
    assert len(small) == len(big) == 100
    assert {r.addr >> 12 for r in small} <= {0x40000 + i for i in range(4)}
    assert max(r.addr for r in big) < 0x4000_0000 + (1 << 20)
    r = sh("trace", "generate", "pciebench", "-s", "window=16K,1M", "-o", "pb.itrc")
    assert r.code == 2 and "--set window=16K,1M: several values need {window} in the output name" in r.err


def test_nic_rx_recycles_pages_lifo_from_the_page_pool(sh, tmp_path):
    assert sh("trace", "generate", "nic_rx", "-o", "rx.trace", "-s", "packets=3").code == 0
    recs = traces.read(tmp_path / "rx.trace")
    # Descriptor read of 8 x 16 B, then the frame at headroom 256 in the page the
    # alloc cache handed out last (pool page 63 of the first 64-page refill), then the CQE.
    assert recs[0] == R(122, 0x10, None, 0x1000_0000, 128, False)
    assert recs[1] == R(0, 0x10, None, 0x4000_0000 + 63 * 4096 + 256, 1500, True)
    assert recs[2] == R(0, 0x10, None, 0x1040_0000, 64, True)
    assert recs[3] == R(122, 0x10, None, 0x4000_0000 + 62 * 4096 + 256, 1500, True)


def test_summarize_counts_exactly(sh, tmp_path):
    (tmp_path / "s.trace").write_text("0 0x10 - 0x1000 64 R\n3 0x10 - 0x1040 64 W\n4 0x20 5 0x201000 4096 R ats\n")
    r = sh("trace", "summarize", "s.trace", "--json")
    assert r.code == 0, r.err
    s = r.json()["summary"]
    assert (s["records"], s["reads"], s["writes"], s["read_bytes"], s["write_bytes"]) == (3, 2, 1, 4160, 64)
    assert (s["stream_ids"], s["pasids"], s["with_pasid"], s["ats"]) == ([16, 32], 1, 1, 1)
    assert (s["pages_4k"], s["pages_2m"], s["gap_cycles_total"]) == (2, 2, 7)


def test_inspect_shows_header_and_head(sh):
    r = sh("trace", "inspect", str(SAMPLES / "nic_rx.itrc.zst"), "-n", "2", "--json")
    assert r.code == 0
    j = r.json()
    assert (j["form"], j["zstd"], j["version"], j["records"], len(j["head"])) == ("binary", True, 1, 4250, 2)
    assert j["raw_bytes"] == 32 + 32 * 4250


@pytest.mark.parametrize("content,message", [
    ("0 1 - 0 8 R\n0 1 - 0 8 Q\n", "bad.trace:2: direction must be R or W, got 'Q'"),
    ("# iommusim-trace v2\n0 1 - 0 8 R\n", "bad.trace:1: unsupported trace version 2 (this build reads v1)"),
    ("0 1 - 0xff8 16 R\n", "bad.trace:1: access [0xff8, +16) crosses a 4 KiB boundary"),
])
def test_bad_text_traces_name_file_line_reason(sh, tmp_path, content, message):
    (tmp_path / "bad.trace").write_text(content)
    for cmd in (("trace", "summarize", "bad.trace"), ("run", "--trace", "bad.trace", "--no-plot")):
        r = sh(*cmd)
        assert r.code == 2
        assert message in r.err
    with pytest.raises(traces.TraceError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
                       .replace("+", r"\+").split("this build")[0]):
        traces.read(tmp_path / "bad.trace")


def test_bad_binary_traces(sh, tmp_path):
    good = traces.encode([R(0, 1, None, 0, 8, False), R(0, 1, None, 64, 8, False)], "binary")
    (tmp_path / "t.itrc").write_bytes(good[:-32])  # header says 2, holds 1
    r = sh("trace", "inspect", "t.itrc")
    assert r.code == 2 and "t.itrc:0: header says 2 records but the file holds 1" in r.err
    bad = bytearray(good)
    bad[32 + 24:32 + 28] = struct.pack("<I", 0)  # record 1: size 0
    (tmp_path / "t.itrc").write_bytes(bytes(bad))
    r = sh("trace", "inspect", "t.itrc")
    assert r.code == 2 and "t.itrc:1: size 0 is not in 1..4096" in r.err
    (tmp_path / "t.itrc.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"garbage")
    r = sh("trace", "inspect", "t.itrc.zst")
    assert r.code == 2 and "t.itrc.zst:0: zstd:" in r.err


def test_bad_generator_input(sh):
    r = sh("trace", "generate", "nic_rx", "-o", "x.trace", "-s", "bogus=1")
    assert r.code == 2 and "bogus: not a parameter of nic_rx" in r.err
    r = sh("trace", "generate", "nic_rx", "-o", "x.trace", "-s", "packets=lots")
    assert r.code == 2 and "packets: 'lots' is not an unsigned integer" in r.err
    r = sh("trace", "generate", "nope", "-o", "x.trace")
    assert r.code == 2 and "no generator named 'nope'" in r.err
    r = sh("trace", "generate", "nic_rx", "-o", "x.weird")
    assert r.code == 2 and "x.weird: cannot tell the form from the name" in r.err
    r = sh("trace", "generate", "nic_rx", "-o", "x.trace", "-s", "packet_size=4000")
    assert r.code == 2 and "packet_size: must be 64 .. 4096 - headroom (3840)" in r.err
    r = sh("trace", "summarize", "missing.trace", "--json")
    assert r.code == 2 and "missing.trace: cannot open: No such file or directory" in r.err
    assert r.json() == {"error": "missing.trace: cannot open: No such file or directory", "exit_status": 2}
