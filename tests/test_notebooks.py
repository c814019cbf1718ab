"""Every notebook in notebooks/ runs top to bottom headless without an error.

Parametrised over the files, so a new notebook is picked up without touching this test. Each cell
has a time limit; the kernel is the venv's own Python (``python3`` kernelspec, as in the notebooks'
metadata), started in the notebooks folder so relative paths behave as in JupyterLab.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell


def test_notebooks_exist():
    assert any(p.name == "quickstart.ipynb" for p in PATHS), f"no quickstart notebook in {NOTEBOOKS}"


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs(path: Path, tmp_path: Path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", \
        f"{path.name}: set the kernelspec to python3 (JupyterLab then opens it without a kernel picker)"
    # Agg plots; and a private Jupyter data dir, so that a user-level "python3" kernelspec cannot
    # shadow this environment's own kernel (the one with latentwidgets installed)
    overrides = {"MPLBACKEND": "Agg", "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data")}
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOKS)}})
        client.execute()  # raises CellExecutionError naming the cell and the traceback
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
