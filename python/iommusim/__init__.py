"""iommusim: a cycle-accurate IOMMU simulator with a Linux iommufd front end.

The package drives the simulator from Python:

* :class:`Platform` builds a platform from a dict or a YAML/JSON file and
  gives you iommufd (``ctx = p.iommufd()``, ``ioas = ctx.ioas()``,
  ``ioas.map(buf, iova=...)`` raising :class:`OSError` with the kernel's
  errno), buffers, devices (bind, attach, BAR registers, start) and
  statistics (``p.stats()``, ``p.stats_frame()``).
* :func:`run` runs a scenario (the built-in NIC receive path by default, or a
  trace, or a generator) and returns its result document.
* :func:`sweep` sweeps cache geometry, replacement policy, page size and the
  IOMMU model over traces, on local cores or a Dask cluster.
* :mod:`iommusim.traces` reads and writes traces (traces/FORMAT.md).

SystemC elaborates once per process, so every platform and every run lives
in its own child process; none of this shows in the API.
"""
from __future__ import annotations

from .platform import Buffer, Device, Ioas, IommufdContext, Platform, PlatformError
from .run import RunError, cli_path, run
from .stats import stats_frame
from .sweeps import Axis, SweepError, sweep

__all__ = [
    "Axis",
    "Buffer",
    "Device",
    "Ioas",
    "IommufdContext",
    "Platform",
    "PlatformError",
    "RunError",
    "SweepError",
    "cli_path",
    "run",
    "stats_frame",
    "sweep",
]
__version__ = "0.1.0"
