"""The notebooks run top to bottom (nbclient), offline, in a temporary folder."""

import shutil
import sqlite3
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["01_label_digits.ipynb"])
def test_notebook_runs_top_to_bottom(name, tmp_path):
    shutil.copy(NOTEBOOKS / name, tmp_path / name)
    nb = nbformat.read(tmp_path / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    widget_views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widget_views  # the labeling widget was displayed
    # The session created its durable store next to the notebook.
    con = sqlite3.connect(tmp_path / "labels.db")
    assert con.execute("SELECT name FROM projects").fetchall() == [("digits",)]
