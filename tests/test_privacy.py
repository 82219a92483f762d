"""The package opens no network connection of its own, and model files hold tensors, not pickled objects."""

import socket
from pathlib import Path

import numpy as np
import pytest
import torch

import activelearn as al
from activelearn.models import load_torch_model, make_mlp, save_torch_model

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def no_network(monkeypatch):
    """Every non-loopback connection raises; attempts are recorded."""
    attempts = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def loopback(address):
        host = address[0] if isinstance(address, tuple) else address
        return isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1") or "/" in host)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address):
            attempts.append(address)
            raise OSError(f"network blocked by the test: {address}")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address):
            attempts.append(address)
            return 111
        return real_connect_ex(self, address)

    def getaddrinfo(host, *a, **k):
        if host not in (None, "localhost", "127.0.0.1", "::1") and not str(host).startswith("127."):
            attempts.append(host)
            raise socket.gaierror(f"name resolution blocked by the test: {host}")
        return real_getaddrinfo(host, *a, **k)

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def test_blocked_network_breaks_nothing(no_network, tmp_path, monkeypatch):
    with pytest.raises(OSError, match="blocked"):  # the block is real
        socket.create_connection(("203.0.113.1", 80), timeout=1)
    no_network.clear()
    monkeypatch.setenv("ACTIVELEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # activelearn must set it itself
    texts = al.from_text(DATA / "short_texts.csv", "text", label_column="topic", id_column="id", progress=False)
    s = al.Session(texts, store=tmp_path / "p.db", annotator="me")
    s.simulate(20)
    w = s.widget(retrain_every=0)
    w.handle_key("1")
    s.export(tmp_path / "out.parquet", include_predictions=True)
    images = al.from_image_folder(DATA / "digits_images", progress=False)
    al.Session(images, store=tmp_path / "i.db").simulate(20)
    assert no_network == []  # not one attempt to reach another machine


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
