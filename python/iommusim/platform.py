"""A simulated platform in its own process, with iommufd, buffers and devices.

Example::

    import iommusim
    cfg = {"iommus": [{"name": "smmu0", "type": "smmuv3"}],
           "devices": [{"name": "dma0", "type": "dma_test", "stream_id": 0x10, "vfio": True}]}
    with iommusim.Platform(cfg) as p:
        ctx = p.iommufd()
        ioas = ctx.ioas()
        buf = p.buffer(8192)
        ioas.map(buf, iova=0x100000)
        dev = p.device("dma0")
        dev.bind(ctx)
        dev.attach(ioas)
        ...
        print(p.stats()["groups"]["smmu0.tcu.main_tlb"]["counters"])
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Union

from ._child import Child


class PlatformError(ValueError):
    """The platform config has errors: one 'FILE:LINE:COL: reason' a line."""


class Buffer:
    """Memory of the simulated program (page-aligned), which devices reach by DMA once mapped."""

    def __init__(self, platform: "Platform", addr: int, length: int) -> None:
        self._p = platform
        self.addr = addr
        self.length = length

    def read(self, offset: int = 0, length: Optional[int] = None) -> bytes:
        """The buffer's bytes [offset, offset+length) (default: to the end)."""
        n = self.length - offset if length is None else length
        return self._p._child.call("buffer_read", self.addr, offset, n)

    def write(self, data: bytes, offset: int = 0) -> None:
        """Store data at offset."""
        self._p._child.call("buffer_write", self.addr, offset, bytes(data))

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"<iommusim.Buffer {self.length} bytes at {self.addr:#x}>"


class Ioas:
    """An IOMMU_IOAS object: an I/O address space."""

    def __init__(self, ctx: "IommufdContext", ioas_id: int) -> None:
        self.ctx = ctx
        self.id = ioas_id

    def map(self, buf: Buffer, iova: Optional[int] = None, *, offset: int = 0, length: Optional[int] = None,
            readable: bool = True, writeable: bool = True) -> int:
        """IOMMU_IOAS_MAP buf[offset:offset+length] at iova (None: the kernel picks); returns the IOVA.

        Raises OSError with the kernel's errno (EEXIST for an IOVA in use, EINVAL for a bad
        alignment or length, ENOENT for a missing IOAS, ...).
        """
        n = buf.length - offset if length is None else length
        return self.ctx._child.call("ioas_map", self.ctx.fd, self.id, buf.addr + offset, n, iova, readable, writeable)

    def unmap(self, iova: int, length: int) -> int:
        """IOMMU_IOAS_UNMAP; returns the bytes unmapped. OSError on failure (ENOENT: nothing there)."""
        return self.ctx._child.call("ioas_unmap", self.ctx.fd, self.id, iova, length)

    def __repr__(self) -> str:
        return f"<iommusim.Ioas id={self.id}>"


class IommufdContext:
    """An open /dev/iommu."""

    def __init__(self, platform: "Platform") -> None:
        self._p = platform
        self._child = platform._child
        self.fd: int = self._child.call("iommufd_open")

    def ioas(self) -> Ioas:
        """IOMMU_IOAS_ALLOC."""
        return Ioas(self, self._child.call("ioas_alloc", self.fd))

    def destroy(self, obj_id: int) -> None:
        """IOMMU_DESTROY of an object ID."""
        self._child.call("destroy", self.fd, obj_id)

    def close(self) -> None:
        """Close the file: every object of the context goes away."""
        if self.fd >= 0:
            self._child.call("close", self.fd)
            self.fd = -1


class Device:
    """A platform device exposed as a VFIO cdev (``vfio: true`` in its config)."""

    def __init__(self, platform: "Platform", info: Mapping[str, Any]) -> None:
        self._p = platform
        self.name: str = info["name"]
        self.type: str = info["type"]
        self.stream_id: int = info["stream_id"]
        self._vfd: Optional[int] = None
        self.dev_id: Optional[int] = None
        self.hwpt_id: Optional[int] = None

    def _fd(self) -> int:
        if self._vfd is None:
            self._vfd = self._p._child.call("vfio_open", self.name)
        return self._vfd

    def bind(self, ctx: IommufdContext) -> int:
        """VFIO_DEVICE_BIND_IOMMUFD; returns the iommufd device ID."""
        self.dev_id = self._p._child.call("vfio_bind", self._fd(), ctx.fd)
        return self.dev_id

    def attach(self, pt: Union[Ioas, int]) -> int:
        """VFIO_DEVICE_ATTACH_IOMMUFD_PT to an IOAS (or a HWPT ID); returns the HWPT used."""
        pt_id = pt.id if isinstance(pt, Ioas) else int(pt)
        self.hwpt_id = self._p._child.call("vfio_attach", self._fd(), pt_id)
        return self.hwpt_id

    def detach(self) -> None:
        """VFIO_DEVICE_DETACH_IOMMUFD_PT."""
        self._p._child.call("vfio_detach", self._fd())

    def read64(self, offset: int) -> int:
        """A 64-bit read of BAR0 (e.g. the dma_test device's registers, docs/platform.md)."""
        return self._p._child.call("bar_read64", self._fd(), offset)

    def write64(self, offset: int, value: int) -> None:
        """A 64-bit write of BAR0."""
        self._p._child.call("bar_write64", self._fd(), offset, value)

    def start(self) -> bool:
        """Start a device that runs on its own (traffic_gen, trace_replayer)."""
        return self._p._child.call("start_device", self.name)

    def __repr__(self) -> str:
        return f"<iommusim.Device {self.name} ({self.type}, StreamID {self.stream_id:#x})>"


ConfigLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]


class Platform:
    """A simulated platform (docs/platform_config.md) running in a child process.

    ``config`` is a dict (the YAML schema as Python data) or the path of a
    YAML/JSON file. Errors in it raise :class:`PlatformError` with every
    problem as ``FILE:LINE:COL: reason``. Relative paths inside a file (a
    trace) are relative to the file.
    """

    def __init__(self, config: ConfigLike) -> None:
        self._child = Child()
        try:
            if isinstance(config, Mapping):
                self._child.call("load_platform", json.dumps(config, indent=2), "json", "<dict>")
            else:
                self._child.call("load_platform_file", os.path.abspath(os.fspath(config)))
        except ValueError as e:
            self._child.close()
            raise PlatformError(str(e)) from None
        except BaseException:
            self._child.close()
            raise

    # -- the program's side ----------------------------------------------------
    def iommufd(self) -> IommufdContext:
        """Open /dev/iommu."""
        return IommufdContext(self)

    def buffer(self, length: int, data: Optional[bytes] = None) -> Buffer:
        """Allocate page-aligned program memory (zeroed, or holding data)."""
        b = Buffer(self, self._child.call("buffer_alloc", length), length)
        if data is not None:
            b.write(data)
        return b

    def devices(self) -> List[Device]:
        """Every device of the platform."""
        return [Device(self, d) for d in self._child.call("devices")]

    def device(self, name: str) -> Device:
        """The device called name (KeyError if there is none)."""
        for d in self._child.call("devices"):
            if d["name"] == name:
                return Device(self, d)
        raise KeyError(name)

    def iommus(self) -> List[str]:
        """The IOMMUs' names."""
        return self._child.call("iommus")

    # -- time and statistics -----------------------------------------------------
    def run_until_idle(self) -> None:
        """Block until nothing is pending in simulated time (every started device done)."""
        self._child.call("run_until_idle")

    def now_ps(self) -> int:
        """Simulated time, in picoseconds."""
        return self._child.call("now_ps")

    def stats(self) -> Dict[str, Any]:
        """Every statistic as plain data: {sim_time_ps, timing, config, groups: {name: {counters, histograms}}}."""
        return json.loads(self._child.call("stats_json"))

    def stats_frame(self) -> "Any":
        """The statistics as a pandas DataFrame (see :func:`iommusim.stats_frame`)."""
        from .stats import stats_frame

        return stats_frame(self.stats())

    def kernel_log(self) -> List[str]:
        """The drivers' recent log lines (dmesg)."""
        return self._child.call("kernel_log")

    def close(self) -> None:
        """Stop the simulation, write the config's outputs and end the child process."""
        self._child.close()

    def __enter__(self) -> "Platform":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
