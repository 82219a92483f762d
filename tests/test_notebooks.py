"""The notebooks run top to bottom (nbclient), offline, in a temporary folder."""

import shutil
import sqlite3
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _run(name, tmp_path):
    shutil.copy(NOTEBOOKS / name, tmp_path / name)
    nb = nbformat.read(tmp_path / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    return outputs


def test_label_efficiency_notebook_shows_table_and_plots(tmp_path):
    outputs = _run("02_label_efficiency.ipynb", tmp_path)
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("labels_to_target_median" in h and "auto" in h for h in html)  # the summary table
    assert [o for o in outputs if "image/png" in o.get("data", {})]  # the plots
    assert any("no overlap" in o.get("text", "") for o in outputs)
    assert any("gain_transfers" in h and "successor_delta_aulc" in h for h in html)  # the transfer check


@pytest.mark.parametrize("name, export", [("03_label_texts.ipynb", "text_labels.csv"),
                                          ("04_label_images.ipynb", "image_labels.parquet")])
def test_own_data_notebooks_label_and_export(name, export, tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.setenv("ACTIVELEARN_CACHE", str(tmp_path / "cache"))
    outputs = _run(name, tmp_path)
    assert [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    path = tmp_path / export
    got = pd.read_csv(path) if export.endswith(".csv") else pd.read_parquet(path)
    assert got["label"].notna().sum() >= 20 and got["prediction"].notna().all()


@pytest.mark.parametrize("name", ["01_label_digits.ipynb"])
def test_notebook_runs_top_to_bottom(name, tmp_path):
    outputs = _run(name, tmp_path)
    widget_views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widget_views  # the labeling widget was displayed
    # The session created its durable store next to the notebook.
    con = sqlite3.connect(tmp_path / "labels.db")
    assert con.execute("SELECT name FROM projects").fetchall() == [("digits",)]
