"""The iommusim package: Platform (dict or file), iommufd objects, buffers,
DMA through a device, traces through a replayer, statistics, errors."""
from __future__ import annotations

import errno
from concurrent.futures import ThreadPoolExecutor

import pytest

import iommusim
from conftest import SAMPLES, SOURCE
from iommusim import traces

DMA = {"SRC": 0x08, "DST": 0x10, "LEN": 0x18, "CTRL": 0x20, "PATTERN": 0x30, "GO": 0x38, "STATUS": 0x40,
       "FAULT_ADDR": 0x48, "BYTES_DONE": 0x50}
CFG = {"iommus": [{"name": "smmu0", "type": "smmuv3"}],
       "devices": [{"name": "dma0", "type": "dma_test", "stream_id": 0x10, "vfio": True}]}


def dma(dev, p, src, dst, length, ctrl=0, pattern=0):
    for k, v in (("SRC", src), ("DST", dst), ("LEN", length), ("CTRL", ctrl), ("PATTERN", pattern), ("GO", 1)):
        dev.write64(DMA[k], v)
    p.run_until_idle()
    return dev.read64(DMA["STATUS"])


def test_dma_copy_lands_in_the_programs_buffer():
    with iommusim.Platform(CFG) as p:
        ctx = p.iommufd()
        ioas = ctx.ioas()
        src = p.buffer(3 * 4096, bytes((i * 31 + 7) & 0xFF for i in range(3 * 4096)))
        dst = p.buffer(3 * 4096, b"\xee" * (3 * 4096))
        assert ioas.map(src, iova=0x100000) == 0x100000
        assert ioas.map(dst, iova=0x200000) == 0x200000
        dev = p.device("dma0")
        assert dev.bind(ctx) > 0
        assert dev.attach(ioas) != ioas.id  # the automatic paging HWPT
        st = dma(dev, p, 0x100000 + 5, 0x200000 + 9, 3 * 4096 - 16)
        assert st & 0x7 == 0x2  # DONE, no ERROR
        assert dev.read64(DMA["BYTES_DONE"]) == 3 * 4096 - 16
        assert dst.read(9, 3 * 4096 - 16) == src.read(5, 3 * 4096 - 16)
        assert dst.read(0, 9) == b"\xee" * 9
        # An IOVA nothing is mapped at: the device reports a translation fault (code 1).
        st = dma(dev, p, 0, 0x900000, 64, ctrl=1, pattern=1)
        assert st & 0x4 and (st >> 16) & 0xFFFF == 1
        assert dev.read64(DMA["FAULT_ADDR"]) == 0x900000
        s = p.stats()
        assert s["groups"]["upstream.dma0"]["counters"]["faults"] >= 1
        df = p.stats_frame()
        assert list(df.columns) == ["group", "kind", "name", "field", "value"]
        tlb = df[(df.group == "smmu0.tcu.main_tlb") & (df.name == "miss")]
        assert int(tlb.value.iloc[0]) == s["groups"]["smmu0.tcu.main_tlb"]["counters"]["miss"]


def test_map_errors_are_the_kernels_errnos():
    with iommusim.Platform(CFG) as p:
        ctx = p.iommufd()
        ioas = ctx.ioas()
        buf = p.buffer(8192)
        ioas.map(buf, iova=0x10000)
        with pytest.raises(FileExistsError) as e:
            ioas.map(buf, iova=0x10000)
        assert e.value.errno == errno.EEXIST
        with pytest.raises(OSError) as e:
            ioas.map(buf, iova=0x40000, readable=False, writeable=False)  # neither R nor W
        assert e.value.errno == errno.EINVAL
        with pytest.raises(OSError) as e:
            ioas.unmap(0x800000, 4096)  # nothing there
        assert e.value.errno == errno.ENOENT
        assert ioas.unmap(0x10000, 8192) == 8192
        with pytest.raises(OSError) as e:
            iommusim.Ioas(ctx, 9999).map(buf, iova=0)
        assert e.value.errno == errno.ENOENT
        auto = ioas.map(buf)  # the kernel picks the IOVA
        assert auto % 4096 == 0


def test_platform_from_a_yaml_file_and_devices():
    with iommusim.Platform(SOURCE / "sim" / "configs" / "smmuv3_default.yaml") as p:
        assert p.iommus() == ["smmu0"]
        assert [(d.name, d.type, d.stream_id) for d in p.devices()] == [
            ("dma0", "dma_test", 0x10), ("ats0", "ats_endpoint", 0x20), ("pri0", "dma_test", 0x30)]
        with pytest.raises(KeyError):
            p.device("nope")


def test_config_errors_raise_platform_error_with_positions(tmp_path):
    with pytest.raises(iommusim.PlatformError, match=r"<dict>:\d+:\d+: iommus\[0\].type: .*'nope'"):
        iommusim.Platform({"iommus": [{"name": "smmu0", "type": "nope"}]})
    (tmp_path / "p.yaml").write_text("iommus:\n  - {name: smmu0, main_tlb: {entries: 100, ways: 3}}\n")
    with pytest.raises(iommusim.PlatformError, match=r"p.yaml:2:\d+: .*main_tlb"):
        iommusim.Platform(tmp_path / "p.yaml")


def test_a_trace_through_a_replayer(tmp_path):
    recs = traces.read(SAMPLES / "pciebench_seq.trace")
    cfg = {"iommus": [{"name": "smmu0"}],
           "devices": [{"name": "rp", "type": "trace_replayer", "stream_id": 0x40, "vfio": True,
                        "trace": str(SAMPLES / "pciebench_seq.trace")}]}
    with iommusim.Platform(cfg) as p:
        ctx = p.iommufd()
        ioas = ctx.ioas()
        ioas.map(p.buffer(16384), iova=0x4000_0000)
        dev = p.device("rp")
        dev.bind(ctx)
        dev.attach(ioas)
        assert dev.start()
        p.run_until_idle()
        up = p.stats()["groups"]["upstream.rp"]["counters"]
        assert up["transactions"] == len(recs) == 64
        assert up["bytes"] == sum(r.size for r in recs)
        assert up["faults"] == 0


def test_platforms_run_side_by_side():
    def one(n):
        with iommusim.Platform(CFG) as p:
            ctx = p.iommufd()
            ioas = ctx.ioas()
            buf = p.buffer(4096)
            ioas.map(buf, iova=0x1000)
            dev = p.device("dma0")
            dev.bind(ctx)
            dev.attach(ioas)
            dma(dev, p, 0, 0x1000, 4096, ctrl=1, pattern=n)
            return buf.read(0, 8)

    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(one, [0x1111, 0x2222]))
    assert got == [(0x1111).to_bytes(8, "little"), (0x2222).to_bytes(8, "little")]


def test_run_returns_the_result_document():
    d = iommusim.run(generate="pciebench", params={"count": 100, "window": "16K"})
    assert d["transactions"] == 100 and d["errors"] == 0
    with pytest.raises(iommusim.RunError) as e:
        iommusim.run(generate="pciebench", params={"count": "x"})
    assert e.value.exit_status == 2 and "count: 'x' is not an unsigned integer" in str(e.value)
