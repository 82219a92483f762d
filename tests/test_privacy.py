"""The package opens no network connection of its own, and model files hold tensors, not pickled objects.

The no-network test runs the whole offline scenario (text embeddings, a session, the widget, an export, image
features in worker processes, ``simulate``'s process pool and the CLI) in a fresh Python process, inside a
network namespace where ``unshare -n`` works, with an audit hook that every Python process it starts inherits
(a ``sitecustomize`` on ``PYTHONPATH``): each attempt to connect to, send to or resolve a non-loopback address,
in any of those processes, is written to a file and refused. The test asserts that every step produced its output, that the
hook ran in the spawned workers and the CLI, and that the file is empty.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from activelearn.models import load_torch_model, make_mlp, save_torch_model

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[1]

AUDIT_HOOK = textwrap.dedent('''
    """Test-only: record (and refuse) every non-loopback network attempt of this process and its children."""
    import os
    import sys

    _DIR = os.environ.get("AL_NET_AUDIT_DIR")


    def _write(name, record):
        import json

        line = (json.dumps(record, default=repr) + "\\n").encode()
        fd = os.open(os.path.join(_DIR, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one write per line, O_APPEND: lines of several processes never mix
        finally:
            os.close(fd)


    def _loopback(host):
        if host is None:
            return True  # getaddrinfo(None, port): a local wildcard address
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        host = str(host).lower().strip("[]")
        return host in ("localhost", "::1", "0.0.0.0", "::", "") or host.startswith("127.") or host.startswith(
            "::ffff:127.")


    def _hook(event, args):
        if not event.startswith("socket."):
            return
        import socket

        host = None
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            sock, address = args[0], args[1]
            if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
                return  # Unix sockets and socketpairs are local
            host = address[0]
        elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                       "socket.gethostbyaddr", "socket.getnameinfo"):
            host = args[0][0] if event == "socket.getnameinfo" else args[0]
        else:
            return
        if _loopback(host):
            return
        _write("attempts.jsonl", {"pid": os.getpid(), "event": event, "host": host, "argv": sys.orig_argv})
        raise PermissionError(f"network blocked by the test: {event} {host!r}")


    if _DIR:
        _write("processes.jsonl", {"pid": os.getpid(), "argv": sys.orig_argv})
        sys.addaudithook(_hook)
''')


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _audited_env(tmp_path):
    hook_dir, audit_dir = tmp_path / "hook", tmp_path / "audit"
    hook_dir.mkdir()
    audit_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(AUDIT_HOOK)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(hook_dir), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                                                                      else []))
    env["AL_NET_AUDIT_DIR"] = str(audit_dir)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # activelearn must set these itself
        env.pop(name, None)
    return env, audit_dir


def _netns_prefix():
    """``unshare -n`` (a network namespace with only loopback) where it works here (root, or user namespaces)."""
    if not shutil.which("unshare"):
        return []
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        return []
    return ["unshare", "-n"]


CANARY = textwrap.dedent('''
    import multiprocessing as mp
    import socket


    def reach_out():
        for call in (lambda: socket.socket(socket.AF_INET).connect(("203.0.113.1", 80)),
                     lambda: socket.getaddrinfo("example.com", 443)):
            try:
                call()
            except OSError:
                pass


    if __name__ == "__main__":
        p = mp.get_context("spawn").Process(target=reach_out)
        p.start()
        p.join()
        assert p.exitcode == 0
        socket.socket(socket.AF_INET).connect_ex(("127.0.0.1", 9))  # loopback: allowed, not recorded
''')


def test_the_audit_hook_sees_attempts_in_spawned_children(tmp_path):
    env, audit = _audited_env(tmp_path)
    (tmp_path / "canary.py").write_text(CANARY)
    out = subprocess.run([sys.executable, str(tmp_path / "canary.py")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    procs = _read_jsonl(audit / "processes.jsonl")
    attempts = _read_jsonl(audit / "attempts.jsonl")
    child = [p["pid"] for p in procs if any("spawn_main" in a for a in p["argv"])]
    assert len(child) == 1 and len({p["pid"] for p in procs}) >= 2  # the script and its spawned child
    assert [(a["event"], a["host"], a["pid"]) for a in attempts] == [
        ("socket.connect", "203.0.113.1", child[0]), ("socket.getaddrinfo", "example.com", child[0])]


def _scenario(out):
    """Every offline feature once; writes what each step produced to ``out/results.json``."""
    out = Path(out)
    os.environ["ACTIVELEARN_CACHE"] = str(out / "cache")
    import activelearn as al
    from activelearn.simulate import simulate

    res = {"seconds": {}}
    clock = [time.perf_counter()]

    def step(name):
        now = time.perf_counter()
        res["seconds"][name] = round(now - clock[0], 1)
        clock[0] = now

    step("imports")
    import pandas as pd

    table = pd.read_csv(DATA / "short_texts.csv").head(160)  # a part of the sample: the same code, less time
    texts = al.from_text(table, "text", label_column="topic", id_column="id", progress=False)
    res["text_shape"] = list(texts.X.shape)
    res["text_norms"] = [float(np.linalg.norm(texts.X, axis=1).min()), float(np.linalg.norm(texts.X, axis=1).max())]
    step("text embeddings")
    s = al.Session(texts, store=out / "p.db", annotator="me")
    history = s.simulate(20)
    res["text_labels"] = s.n_labels
    res["text_accuracy"] = float(history["accuracy"].iloc[-1])
    w = s.widget(retrain_every=0)
    assert w.wait_ready(120)  # session.widget() shows at once and prepares the first item in the background
    shown = w.item["id"]
    res["key_did_something"] = bool(w.handle_key("1"))
    res["after_key"] = {"n_labels": s.n_labels, "shown": str(shown),
                        "stored": s.labels()["item_id"].astype(str).tolist()[-1]}
    path = s.export(out / "out.parquet", include_predictions=True)
    exported = pd.read_parquet(path)
    res["export"] = {"rows": len(exported), "predictions": int(exported["prediction"].notna().sum())}
    s.close()
    step("text session, widget, export")
    images = al.from_image_folder(DATA / "digits_images", progress=False, n_jobs=2)  # spawned feature workers
    res["image_shape"] = list(images.X.shape)
    res["image_nonzero_rows"] = int((np.abs(images.X).sum(axis=1) > 0).sum())
    step("image features")
    si = al.Session(images, store=out / "i.db")
    si.simulate(20)
    res["image_labels"] = si.n_labels
    si.close()
    step("image session")
    sim = simulate(al.load_iris(), ["random", "margin"], seeds=[0], budget=15, batch_size=5, initial_size=5,
                   n_jobs=2, progress=False)  # simulate's spawned process pool
    res["simulate"] = {"rows": len(sim), "max_labels": int(sim["n_labels"].max()),
                       "strategies": sorted(sim["strategy"].unique().tolist())}
    step("simulate pool")
    cli = subprocess.run([sys.executable, "-m", "activelearn", "simulate", "--dataset", "iris", "--strategies",
                          "random,margin", "--seeds", "1", "--budget", "15", "--batch-size", "5", "--initial-size",
                          "5", "--jobs", "1", "--out", str(out / "cli")], capture_output=True, text=True)
    res["cli_rc"] = cli.returncode
    res["cli_stderr_tail"] = cli.stderr[-2000:]
    step("cli")
    (out / "results.json").write_text(json.dumps(res))


def test_the_whole_offline_scenario_makes_no_network_attempt(tmp_path):
    env, audit = _audited_env(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    cmd = [*_netns_prefix(), sys.executable, str(Path(__file__).resolve()), "scenario", str(out)]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    res = json.loads((out / "results.json").read_text())

    # Every step produced its output.
    assert res["text_shape"] == [160, 384]  # all-MiniLM-L6-v2 embeddings, computed offline
    assert res["text_norms"] == pytest.approx([1.0, 1.0], abs=1e-3)
    assert res["text_labels"] == 20 and res["text_accuracy"] > 0.5  # four topics: chance is 0.25
    assert res["key_did_something"] and res["after_key"]["n_labels"] == 21
    assert res["after_key"]["stored"] == res["after_key"]["shown"]
    assert res["export"] == {"rows": 160, "predictions": 160}
    assert (out / "out.parquet").stat().st_size > 0 and (out / "cache" / "text_embeddings.sqlite").exists()
    assert res["image_shape"] == [500, 16 * 16 + 128 + 24] and res["image_nonzero_rows"] == 500
    assert res["image_labels"] == 20
    assert res["simulate"] == {"rows": res["simulate"]["rows"], "max_labels": 15, "strategies": ["margin", "random"]}
    assert res["simulate"]["rows"] >= 2 * 3  # both runs retrained at 5, 10 and 15 labels
    assert res["cli_rc"] == 0, res["cli_stderr_tail"]
    for name in ["curves.csv", "summary.csv", "summary.md", "learning_curves.png"]:
        assert (out / "cli" / name).stat().st_size > 0

    # The hook ran in every kind of process the scenario started.
    procs = _read_jsonl(audit / "processes.jsonl")
    argv = [" ".join(p["argv"]) for p in procs]
    workers = [a for a in argv if "spawn_main" in a]
    assert sum("-m activelearn simulate" in a for a in argv) == 1  # the CLI
    assert len(workers) >= 2 + 2  # image features' workers, simulate's pool

    # And not one attempt to reach another machine, in any of them.
    assert _read_jsonl(audit / "attempts.jsonl") == []


def test_model_file_round_trip_uses_weights_only(tmp_path, digits):
    model = make_mlp(64, 10, train_steps=50).fit(digits.X[:200], digits.y[:200])
    path = save_torch_model(model, tmp_path / "model.pt")
    again = load_torch_model(path)
    np.testing.assert_allclose(again.predict_proba(digits.X[:50]), model.predict_proba(digits.X[:50]), atol=1e-6)
    blob = torch.load(path, weights_only=True)  # loads under the safe unpickler: tensors and strings only
    assert set(blob) == {"state_dict", "settings"}


def test_a_model_file_with_a_pickled_object_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this would run on load",))

    torch.save({"state_dict": {}, "settings": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported"):
        load_torch_model(tmp_path / "evil.pt")


if __name__ == "__main__" and sys.argv[1:2] == ["scenario"]:
    _scenario(sys.argv[2])
