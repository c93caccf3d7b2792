"""The notebooks in notebooks/ run top to bottom on a simulated world large enough to mean something, tell their
story in prose, print no warnings or progress bars, and are stored without outputs.

They are executed in order (02 registers the champion 03 explains) with nbclient on a kernel spec written to a
temporary JUPYTER_PATH that starts *this* interpreter (the project's venv), so no global Jupyter install or
`ipykernel install` is needed; CHURNML_NOTEBOOK_DIR points what they write at a temporary folder.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[3]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "churnml-test"


@pytest.fixture(scope="module")
def kernel_spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    jupyter = tmp_path_factory.mktemp("jupyter")
    spec = jupyter / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "churnml (test)", "language": "python",
    }))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(jupyter))
    mp.setenv("MPLBACKEND", "agg")
    mp.setenv("CHURNML_NOTEBOOK_DIR", str(tmp_path_factory.mktemp("notebooks")))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield KERNEL
    mp.undo()


def test_three_notebooks_stored_without_outputs() -> None:
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03"]
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        nbformat.validate(book)
        code = [c for c in book.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), path.name
        assert any("churnml" in c.source for c in code)
        prose = [c for c in book.cells if c.cell_type == "markdown"]
        assert len(prose) >= 6 and "What to do next" in prose[-1].source, path.name  # a story, with an ending
        assert not any("tempfile" in c.source for c in code), path.name  # nothing left in /tmp


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, kernel_spec: str) -> None:
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(book, kernel_name=kernel_spec, timeout=900,
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError with the failing cell on any error
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = [o.get("text", "") for o in outputs if o.output_type == "stream" and o.get("name") == "stderr"]
    assert not stderr, f"{path.name} printed warnings or progress bars: {stderr[:3]}"
    for source in (c.source for c in book.cells if c.cell_type == "code" and ".set(title=" in c.source):
        assert "xlabel=" in source and "ylabel=" in source  # every plot drawn here is titled and labelled
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} drew no figure"
    if path.stem.startswith("03"):
        assert len(images) >= 3  # SHAP summary and two dependence plots
        text = "".join(o.get("text", "") for o in outputs)
        assert "Risk drivers:" in text and "churn risk in the next" in text
    if path.stem.startswith("02"):
        text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
        assert "v1: " in text and "v2: " in text and "'champion': " in text  # two runs, both registered
        found = re.search(r"LightGBM ROC-AUC (0\.\d+) beats the health score's (0\.\d+)", text)
        assert found, "notebook 02's backtest does not show LightGBM beating the health score"
        assert float(found[1]) > float(found[2])
