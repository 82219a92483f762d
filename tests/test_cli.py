import subprocess
import sys

import pandas as pd
import pytest

from activelearn.cli import main


@pytest.mark.parametrize("cmd", [[], ["demo"], ["simulate"], ["strategies"]])
def test_help_on_every_subcommand(cmd):
    out = subprocess.run([sys.executable, "-m", "activelearn", *cmd, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "usage: activelearn" in out.stdout


def test_simulate_writes_every_output(tmp_path, capsys):
    rc = main(["simulate", "--dataset", "iris", "--strategies", "random,margin", "--seeds", "2", "--budget", "30",
               "--batch-size", "5", "--initial-size", "5", "--target", "0.9", "--jobs", "1", "--out", str(tmp_path)])
    assert rc == 0
    for name in ["curves.csv", "summary.csv", "summary.md", "learning_curves.png", "cost_vs_accuracy.png"]:
        assert (tmp_path / name).stat().st_size > 0
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert set(curves["strategy"]) == {"random", "margin"} and curves["n_labels"].max() == 30
    assert "| margin |" in (tmp_path / "summary.md").read_text()
    # cost: 5 s per label at 30/hour
    last = curves.sort_values("n_labels").iloc[-1]
    assert last["cost"] == pytest.approx(30 * 5 * 30 / 3600)


def test_unknown_strategy_is_a_clear_error(tmp_path, capsys):
    assert main(["simulate", "--strategies", "random,psychic", "--out", str(tmp_path)]) == 2
    assert "unknown query strategy 'psychic'" in capsys.readouterr().err


def test_demo_prints_curve_and_writes_plot(tmp_path, capsys):
    assert main(["demo", "--budget", "30", "--out", str(tmp_path), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "Learning curve" in out and "auto" in out
    assert (tmp_path / "learning_curve.png").stat().st_size > 0


def test_simulate_successor_reports_whether_the_gain_transfers(tmp_path, capsys):
    rc = main(["simulate", "--dataset", "iris", "--strategies", "margin", "--seeds", "2", "--budget", "15",
               "--batch-size", "5", "--initial-size", "5", "--target", "0.9", "--jobs", "1", "--successor", "lr",
               "--out", str(tmp_path)])
    assert rc == 0
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert set(curves["strategy"]) == {"random", "margin"} and curves["successor_accuracy"].between(0, 1).all()
    md = (tmp_path / "summary.md").read_text()
    assert "Transfer check" in md and "| margin |" in md.split("Transfer check")[1]
