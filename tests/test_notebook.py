"""The notebooks run top to bottom against the test database, so they cannot rot.

The kernel is this interpreter (``sys.executable``, the venv's), declared in a throw-away kernelspec:
no dependence on a ``python3`` kernel installed on the machine, which may point at another Python.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def _kernel_manager(tmp_path: Path) -> Any:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kdir = tmp_path / "kernels" / "goldentime-venv"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "goldentime venv",
                "language": "python",
            }
        )
    )
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    return KernelManager(kernel_name="goldentime-venv", kernel_spec_manager=ksm)


def run_notebook(path: Path, tmp_path: Path, timeout_s: int = 300) -> Any:
    """Execute a notebook with the venv's kernel in the project root; returns the executed nb."""
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        km=_kernel_manager(tmp_path),
        timeout=timeout_s,
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()
    return nb


@pytest.mark.slow
def test_coverage_daejeon_notebook(sample_loaded: dict[str, object], tmp_path: Path) -> None:
    nb = run_notebook(NOTEBOOKS / "coverage_daejeon.ipynb", tmp_path)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert "image/png" in kinds  # matplotlib plots
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "<iframe srcdoc=" in html and "leaflet" in html.lower()  # the inline map
    assert "https://cdn" not in html
    text = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert "accidents in coverage: before" in text and "notebook ran in" in text
