"""Shared fixtures: the CLI under test, the source tree, a runner."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import List

import pytest

SOURCE = Path(os.environ.get("IOMMUSIM_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SAMPLES = SOURCE / "traces" / "samples"


@pytest.fixture(scope="session")
def cli() -> str:
    exe = os.environ.get("IOMMUSIM_CLI")
    assert exe and os.access(exe, os.X_OK), "IOMMUSIM_CLI must name the built iommusim (ctest sets it)"
    return exe


class Result:
    def __init__(self, p: subprocess.CompletedProcess) -> None:
        self.code, self.out, self.err = p.returncode, p.stdout, p.stderr

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def sh(cli, tmp_path):
    """Run `iommusim ARGS` in a temporary directory."""

    def run(*args: str, cwd: Path = None) -> Result:
        p = subprocess.run([cli, *args], capture_output=True, text=True, cwd=cwd or tmp_path, timeout=300)
        return Result(p)

    return run
