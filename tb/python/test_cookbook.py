"""Runs every ```python block of docs/cookbook.md as a script."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import SOURCE

BLOCKS = re.findall(r"```python\n(.*?)```", (SOURCE / "docs" / "cookbook.md").read_text(), re.S)


def test_the_cookbook_has_recipes():
    assert len(BLOCKS) >= 7


@pytest.mark.parametrize("n", range(len(BLOCKS)))
def test_recipe(n, tmp_path):
    import iommusim

    pkg = os.path.dirname(os.path.dirname(os.path.abspath(iommusim.__file__)))
    env = dict(os.environ, PYTHONPATH=pkg, IOMMUSIM_CLI=os.path.abspath(os.environ["IOMMUSIM_CLI"]), MPLBACKEND="Agg")
    (tmp_path / "recipe.py").write_text(BLOCKS[n])
    p = subprocess.run([sys.executable, "recipe.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip(), "a recipe prints what it found"
