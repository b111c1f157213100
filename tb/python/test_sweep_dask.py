"""`iommusim sweep --scheduler`: a real dask-scheduler and two dask-workers on
loopback run a small sweep, and give exactly the local sweep's numbers."""
from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from sweep_util import by_point, rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    port = free_port()
    import iommusim

    # The workers import the package under test and run the CLI under test.
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(iommusim.__file__)))
    env = dict(os.environ, PYTHONPATH=pkg, IOMMUSIM_CLI=os.path.abspath(os.environ["IOMMUSIM_CLI"]))
    procs = [subprocess.Popen(["dask-scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0",
                               "--no-show"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=open(tmp_path / "scheduler.log", "w"))]
    addr = f"tcp://127.0.0.1:{port}"
    for i in range(2):
        procs.append(subprocess.Popen(["dask-worker", addr, "--nthreads", "1", "--nworkers", "1", "--no-nanny",
                                       "--dashboard-address", ":0", "--local-directory", str(tmp_path / f"w{i}"),
                                       "--name", f"w{i}"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                      stderr=open(tmp_path / f"worker{i}.log", "w")))
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(addr, timeout=5) as c:
                    if len(c.scheduler_info()["workers"]) == 2:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the Dask cluster did not come up: " + (tmp_path / "scheduler.log").read_text()[-2000:])
            time.sleep(0.5)
        yield addr
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_dask_sweep_matches_local(sh, tmp_path, cluster):
    assert sh("trace", "generate", "pciebench", "-o", "w.itrc", "-s", "window=256K", "-s", "pattern=random",
              "-s", "count=400").code == 0
    args = ["-t", "w.itrc", "--entries", "16,32,64", "--policy", "lru,plru", "--no-plot", "-q", "--json"]
    r = sh("sweep", *args, "-o", "dask.csv", "--scheduler", cluster)
    assert r.code == 0, r.err
    assert (r.json()["ran"], r.json()["errors"]) == (6, 0)
    r = sh("sweep", *args, "-o", "local.csv", "-j", "2")
    assert r.code == 0, r.err
    keys = ["trace", "policy", "entries"]
    dask_rows = by_point(rows(tmp_path / "dask.csv"), keys)
    assert len(dask_rows) == 6
    assert dask_rows == by_point(rows(tmp_path / "local.csv"), keys)


def test_unreachable_scheduler_is_bad_input(sh, tmp_path):
    (tmp_path / "t.trace").write_text("0 1 - 0x1000 8 R\n")
    r = sh("sweep", "-t", "t.trace", "--entries", "16", "--scheduler", f"tcp://127.0.0.1:{free_port()}", "-o", "s.csv",
           "--no-plot")
    assert r.code == 2 and "cannot connect" in r.err
