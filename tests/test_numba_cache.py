"""Compiled code loaded from numba's on-disk cache runs as freshly compiled code does.

The attack is a deployment, not a request: the service warms its numba kernels at start and
numba keeps them in a cache on disk; the next start loads them from there. A kernel that is
fine when compiled in the process but broken when loaded from the cache (a recursive numba
function did exactly that: a segmentation fault in every route request of the next start) passes
every in-process test. So: two fresh interpreters share an empty cache directory; the first
compiles and caches every kernel the warm-ups touch, the second loads them and runs them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
from api import warmup
steps = {k: v for k, v in warmup.STEPS.items() if k != "camera_index"}  # no database here
print(warmup.run_warmups(steps))
"""


def test_kernels_loaded_from_the_cache_run(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "PYTHONPATH": str(ROOT)}
    for run in ("compiles and caches", "loads from the cache"):
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        assert out.returncode == 0, f"the run that {run}: {out.returncode}\n{out.stderr[-2000:]}"
        assert "Error" not in out.stdout, out.stdout
    assert any((tmp_path / "numba").rglob("*.nbc"))  # the second run had a cache to load
