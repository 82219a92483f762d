from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import activelearn as al
from activelearn.exceptions import InvalidDataError, UnknownLabelError
from activelearn.sources import embed_texts, image_features

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIVELEARN_CACHE", str(tmp_path / "cache"))


def _save(path, arr, mode=None, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path, **kw)


def _square(shift=0, size=24):
    a = np.zeros((size, size), np.uint8)
    a[4 + shift:12 + shift, 4:20] = 255
    return a


# -- image folders ------------------------------------------------------------------------------------------
def test_class_subfolders_give_labels_and_relative_path_ids(tmp_path):
    root = tmp_path / "imgs"
    for i in range(3):
        _save(root / "bars" / f"{i}.png", _square(i))
        _save(root / "dots" / "sub" / f"{i}.jpg", np.full((24, 24, 3), 40 * i, np.uint8))
    ds = al.from_image_folder(root, n_jobs=1, progress=False)
    assert ds.classes == ["bars", "dots"] and ds.kind == "image"
    assert sorted(ds.ids.tolist())[:2] == ["bars/0.png", "bars/1.png"] and "dots/sub/2.jpg" in ds.ids
    assert ds.y[ds.position("dots/sub/1.jpg")] == 1
    shown = ds.render("bars/2.png")
    assert shown["caption"] == "bars/2.png" and shown["image"].startswith(b"\x89PNG")


def test_flat_folder_is_an_unlabeled_pool_and_needs_class_names(tmp_path):
    for i in range(4):
        _save(tmp_path / f"{i}.png", _square(i % 2))
    with pytest.raises(InvalidDataError, match="name the classes"):
        al.from_image_folder(tmp_path, progress=False)
    ds = al.from_image_folder(tmp_path, classes=["a", "b"], progress=False)
    assert not ds.has_labels and len(ds) == 4


def test_moved_folder_keeps_ids_and_store_matches(tmp_path):
    root = tmp_path / "one"
    for i in range(6):
        _save(root / ("a" if i % 2 else "b") / f"{i}.png", _square(i % 3))
    ds = al.from_image_folder(root, progress=False)
    s = al.Session(ds, model=_lr(), store=tmp_path / "l.db", test_size=0)
    s.label("a/1.png", "a")
    s.store.close()
    moved = tmp_path / "elsewhere" / "one"  # same folder name (the project), another place
    moved.parent.mkdir()
    root.rename(moved)
    ds2 = al.from_image_folder(moved, progress=False)
    s2 = al.Session(ds2, model=_lr(), store=tmp_path / "l.db", test_size=0)
    assert s2.labels()["item_id"].tolist() == ["a/1.png"]


def _lr():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=200)


def test_every_mode_and_format_decodes(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    _save(tmp_path / "rgb.webp", rgb)
    _save(tmp_path / "rgb.tif", rgb)
    _save(tmp_path / "jpeg.jpeg", rgb)
    _save(tmp_path / "grey16.png", (np.arange(600, dtype=np.uint16).reshape(20, 30) * 100))
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    rgba = np.dstack([rgb, np.full((20, 30), 128, np.uint8)])
    _save(tmp_path / "alpha.png", rgba, mode="RGBA")
    _save(tmp_path / "big.png", np.zeros((300, 500, 3), np.uint8))  # mixed sizes
    (tmp_path / "notes.txt").write_text("not an image")  # ignored: not an image extension
    ds = al.from_image_folder(tmp_path, classes=["x", "y"], progress=False)
    assert len(ds) == 7 and ds.X.shape == (7, 16 * 16 + 128 + 24) and np.isfinite(ds.X).all()
    grey16 = ds.X[ds.position("grey16.png")]
    assert np.linalg.norm(grey16[:256]) > 0.5  # 16-bit range rescaled, not clipped to black


def test_exif_rotation_is_respected(tmp_path):
    a = np.zeros((10, 40), np.uint8)
    a[:, :20] = 255  # left half white
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    im.save(tmp_path / "rot.jpg", exif=exif)
    _save(tmp_path / "plain.png", np.rot90(a, k=-1).copy())
    ds = al.from_image_folder(tmp_path, classes=["a", "b"], progress=False)
    rot, plain = ds.X[ds.position("rot.jpg")], ds.X[ds.position("plain.png")]
    assert np.corrcoef(rot[:256], plain[:256])[0, 1] > 0.95


def test_truncated_and_unreadable_files_are_skipped_with_a_count(tmp_path):
    for i in range(3):
        _save(tmp_path / "a" / f"{i}.png", _square(i))
        _save(tmp_path / "b" / f"{i}.png", 255 - _square(i))
    good = (tmp_path / "a" / "0.png").read_bytes()
    (tmp_path / "a" / "cut.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "b" / "junk.jpg").write_bytes(b"this is not a jpeg")
    with pytest.warns(UserWarning, match="2 of 8 image files could not be read"):
        ds = al.from_image_folder(tmp_path, progress=False)
    assert len(ds) == 6 and {p for p, _ in ds.skipped} == {"a/cut.png", "b/junk.jpg"}
    assert all(reason for _, reason in ds.skipped)


def test_features_are_cached_and_recomputed_when_a_file_changes(tmp_path, monkeypatch):
    import activelearn.sources as src

    for i in range(4):
        _save(tmp_path / "imgs" / f"{i}.png", _square(i))
    a = al.from_image_folder(tmp_path / "imgs", classes=["p", "q"], progress=False)
    calls = []
    monkeypatch.setattr(src, "_compute_image_features", lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(
        AssertionError("recomputed")))
    b = al.from_image_folder(tmp_path / "imgs", classes=["p", "q"], progress=False)
    np.testing.assert_array_equal(a.X, b.X)
    assert not calls
    _save(tmp_path / "imgs" / "0.png", _square(3))
    with pytest.raises(AssertionError, match="recomputed"):
        al.from_image_folder(tmp_path / "imgs", classes=["p", "q"], progress=False)


class _Backbone:
    """A small conv backbone (torchvision is not installed here) that records each batch it is given."""

    def __new__(cls, seed=0):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3, stride=2)
                self.pool = nn.AdaptiveAvgPool2d(2)
                self.batches, self.threads, self.modes = [], [], []

            def forward(self, x):
                self.batches.append(tuple(x.shape))
                self.modes.append((self.training, torch.is_grad_enabled()))
                self.threads.append(torch.get_num_threads())
                return self.pool(torch.relu(self.conv(x)))  # (n, 4, 2, 2): 16 features once flattened

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return Net()


def test_a_backbone_gives_features_in_batches_and_caches_them(tmp_path):
    import torch

    from activelearn.sources import _ImageNetTransform, _open_image

    rng = np.random.default_rng(0)
    for i in range(7):
        _save(tmp_path / "imgs" / "ab"[i % 2] / f"{i}.png", rng.integers(0, 255, (20 + 3 * i, 30, 3), dtype=np.uint8))
    (tmp_path / "imgs" / "a" / "broken.png").write_bytes(b"not an image")
    bb, threads = _Backbone(0), torch.get_num_threads()
    with pytest.warns(UserWarning, match="1 of 8 image files could not be read"):
        ds = al.from_image_folder(tmp_path / "imgs", features=bb, input_size=32, batch_size=3, n_threads=2,
                                  progress=False)
    assert bb.batches == [(3, 3, 32, 32), (2, 3, 32, 32), (2, 3, 32, 32)]  # a/broken.png is left out of the 2nd
    assert set(bb.modes) == {(False, False)} and bb.training  # eval mode, no gradients; its mode restored
    assert set(bb.threads) == {2} and torch.get_num_threads() == threads
    assert ds.X.shape == (7, 16) and ds.classes == ["a", "b"] and ds.skipped[0][0] == "a/broken.png"
    with torch.no_grad():
        one = bb.eval()(torch.from_numpy(_ImageNetTransform(32)(_open_image(tmp_path / "imgs" / "b" / "3.png"))[None]))
    np.testing.assert_allclose(ds.X[ds.position("b/3.png")], one.reshape(-1).numpy(), atol=1e-5)
    bb.train()
    bb.batches.clear()
    with pytest.warns(UserWarning):
        again = al.from_image_folder(tmp_path / "imgs", features=bb, input_size=32, batch_size=3, progress=False)
    assert bb.batches == [] and np.array_equal(again.X, ds.X)  # from the cache
    other = _Backbone(1)
    with pytest.warns(UserWarning):
        X_other = al.from_image_folder(tmp_path / "imgs", features=other, input_size=32, progress=False).X
    assert other.batches and not np.allclose(X_other, ds.X)  # another backbone: computed, not the cached features
    with torch.no_grad():
        bb.conv.bias += 1.0  # same backbone, other weights
    with pytest.warns(UserWarning):
        al.from_image_folder(tmp_path / "imgs", features=bb, input_size=32, batch_size=3, progress=False)
    assert bb.batches


def test_features_must_be_handcrafted_or_a_torch_module(tmp_path):
    from torch import nn

    for i in range(2):
        _save(tmp_path / "imgs" / "ab"[i] / f"{i}.png", _square(i))
    with pytest.raises(InvalidDataError, match="features must be 'handcrafted' or a torch.nn.Module.*'resnet'"):
        al.from_image_folder(tmp_path / "imgs", features="resnet", progress=False)
    with pytest.raises(InvalidDataError, match="features=Conv2d is a torch module class: pass an instance"):
        al.from_image_folder(tmp_path / "imgs", features=nn.Conv2d, progress=False)
    with pytest.raises(InvalidDataError, match=r"the backbone Linear failed on a batch of shape \(2, 3, 16, 16\)"):
        al.from_image_folder(tmp_path / "imgs", features=nn.Linear(5, 2), input_size=16, progress=False)


def test_image_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(InvalidDataError, match="not a folder"):
        al.from_image_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidDataError, match="no image files"):
        al.from_image_folder(tmp_path / "empty")
    _save(tmp_path / "c" / "cat" / "1.png", _square())
    _save(tmp_path / "c" / "dog" / "1.png", _square(2))
    with pytest.raises(UnknownLabelError, match=r"sub-folders \['dog'\]"):
        al.from_image_folder(tmp_path / "c", classes=["cat", "bird"], progress=False)


def test_image_features_separate_shapes():
    rng = np.random.default_rng(0)
    bars = [image_features(Image.fromarray(_square(int(s))).convert("RGB")) for s in rng.integers(0, 4, 5)]
    cols = [image_features(Image.fromarray(np.rot90(_square(int(s))).copy()).convert("RGB"))
            for s in rng.integers(0, 4, 5)]
    within = np.mean([np.linalg.norm(a - b) for a in bars for b in bars])
    between = np.mean([np.linalg.norm(a - b) for a in bars for b in cols])
    assert between > 1.5 * within


def test_shipped_image_sample_learns_from_few_labels():
    ds = al.from_image_folder(DATA / "digits_images", progress=False)
    assert len(ds) == 500 and ds.n_classes == 10
    s = al.Session(ds, store=":memory:", test_size=0.3, batch_size=10)
    h = s.simulate(50)
    assert h["accuracy"].iloc[-1] > 0.8


# -- texts --------------------------------------------------------------------------------------------------
def test_from_text_reads_csv_parquet_jsonl_and_caches_embeddings(tmp_path, monkeypatch):
    df = pd.DataFrame({"key": ["a", "b", "c", "d"],
                       "body": ["The striker scored a goal.", "Heavy rain tonight.", "Bake the bread slowly.",
                                "The server crashed again."],
                       "topic": ["sports", "weather", None, "computing"]})
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    df.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    classes = ["sports", "weather", "cooking", "computing"]
    out = [al.from_text(tmp_path / f"t.{ext}", "body", label_column="topic", id_column="key", classes=classes,
                        progress=False) for ext in ("csv", "parquet", "jsonl")]
    for ds in out:
        assert ds.kind == "text" and ds.ids.tolist() == ["a", "b", "c", "d"] and ds.X.shape == (4, 384)
        assert ds.y.tolist() == [0, 1, -1, 3] and ds.render("c") == "Bake the bread slowly."
    np.testing.assert_allclose(out[0].X, out[1].X, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out[0].X, axis=1), 1.0, atol=1e-5)
    import activelearn.sources as src

    monkeypatch.setattr(src, "_load_text_model", lambda: (_ for _ in ()).throw(AssertionError("re-embedded")))
    again = al.from_text(df, "body", label_column="topic", id_column="key", classes=classes, progress=False)
    np.testing.assert_array_equal(again.X, out[0].X)  # all from the cache, model never loaded


def test_embeddings_put_similar_texts_together():
    X = embed_texts(["The goalkeeper saved a penalty.", "Our striker scored twice in the match.",
                     "Whisk the eggs with sugar."], progress=False)
    assert X[0] @ X[1] > X[0] @ X[2] + 0.1


class _Encoder:
    """A tiny stand-in for a SentenceTransformer: letter counts through a seeded linear layer (a torch module)."""

    def __new__(cls, seed=0):
        import torch
        from torch import nn

        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(26, 8)
                self.calls = []

            @staticmethod
            def counts(texts):
                return np.array([[t.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts],
                                dtype=np.float32)

            def encode(self, texts, batch_size=32, **kwargs):
                self.calls.append(len(texts))
                with torch.no_grad():
                    return self.lin(torch.from_numpy(self.counts(texts))).numpy()

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return Encoder()


def test_from_text_takes_a_model_object_and_caches_under_its_weights(tmp_path, monkeypatch):
    import activelearn.sources as src

    monkeypatch.setattr(src, "_load_text_model", lambda: (_ for _ in ()).throw(AssertionError("default loaded")))
    df = pd.DataFrame({"body": ["The striker scored a goal.", "Heavy rain tonight.", "Bake the bread."],
                       "topic": ["sports", "weather", "cooking"]})
    enc = _Encoder(0)
    ds = al.from_text(df, "body", label_column="topic", progress=False, model=enc)
    expected = enc.encode(df["body"].tolist())
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert ds.X.shape == (3, 8) and enc.calls == [3, 3]
    np.testing.assert_allclose(ds.X, expected, atol=1e-6)  # its vectors, scaled to unit length
    again = al.from_text(df, "body", label_column="topic", progress=False, model=enc)
    assert enc.calls == [3, 3] and np.array_equal(again.X, ds.X)  # from the cache
    other = _Encoder(1)
    X_other = al.from_text(df, "body", label_column="topic", progress=False, model=other).X
    assert other.calls == [3] and not np.allclose(X_other, ds.X)  # other weights: embedded, not read from the cache
    with pytest.raises(InvalidDataError, match="model must be the name or folder.*got 42"):
        al.from_text(df, "body", label_column="topic", progress=False, model=42)


def test_a_sentence_transformer_object_or_name_is_used_offline(tmp_path):
    import sqlite3

    import activelearn.sources as src

    texts = ["The goalkeeper saved a penalty.", "Whisk the eggs with sugar."]
    default = embed_texts(texts, progress=False, cache_dir=tmp_path)
    loaded = src._load_text_model()  # the shipped all-MiniLM-L6-v2 as a SentenceTransformer object
    np.testing.assert_allclose(embed_texts(texts, progress=False, cache_dir=tmp_path, model=loaded), default,
                               atol=1e-5)
    with sqlite3.connect(tmp_path / "text_embeddings.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM emb").fetchone()[0] == 4  # embedded again under the object's key
    with pytest.raises(InvalidDataError, match="'no-such/model-here' is not installed here.*Nothing is downloaded"):
        embed_texts(texts, progress=False, cache_dir=tmp_path, model="no-such/model-here")


def test_text_bad_input_is_named(tmp_path):
    df = pd.DataFrame({"id": ["x", "y", "x"], "text": ["one", "two", "three"], "label": ["p", "q", "p"]})
    with pytest.raises(InvalidDataError, match="repeats 'x'"):
        al.from_text(df, "text", label_column="label", id_column="id", progress=False)
    with pytest.raises(InvalidDataError, match=r"column\(s\) \['body'\] not found"):
        al.from_text(df, "body", progress=False)
    bad = pd.DataFrame({"text": ["ok", "fine", "good"], "label": ["p", "q", "zzz"]})
    with pytest.raises(UnknownLabelError, match="row 2 = 'zzz'"):
        al.from_text(bad, "text", label_column="label", classes=["p", "q"], progress=False)
    empty = pd.DataFrame({"text": ["ok", "  ", None, "fine"], "label": ["p", "q", "p", "q"]})
    with pytest.raises(InvalidDataError, match=r"2 rows have an empty 'text' \(first rows: \[1, 2\]\)"):
        al.from_text(empty, "text", label_column="label", progress=False)
    with pytest.warns(UserWarning, match="2 rows"):
        ds = al.from_text(empty, "text", label_column="label", empty="skip", progress=False)
    assert ds.ids.tolist() == [0, 3] and ds.skipped == [1, 2]
    with pytest.raises(InvalidDataError, match="unknown table format"):
        (tmp_path / "t.xlsx").write_text("x")
        al.from_text(tmp_path / "t.xlsx", "text")


def test_shipped_text_sample_learns_from_few_labels():
    ds = al.from_text(DATA / "short_texts.csv", "text", label_column="topic", id_column="id", progress=False)
    assert len(ds) == 480 and ds.class_names == ["computing", "cooking", "sports", "weather"]
    h = al.Session(ds, store=":memory:", test_size=0.3).simulate(20)
    assert h["accuracy"].iloc[-1] > 0.9


# -- data frames ----------------------------------------------------------------------------------------------
def test_from_dataframe_and_its_errors(tmp_path):
    df = pd.DataFrame({"sku": [10, 11, 12, 13], "w": [1.0, 2.0, 3.0, 4.0], "h": [3, 1, 2, 5],
                       "colour": ["r", "g", "b", "r"], "kind": ["big", "small", None, "big"]})
    ds = al.from_dataframe(df, label_column="kind", id_column="sku")
    assert ds.feature_names == ["w", "h"] and ds.ids.tolist() == [10, 11, 12, 13] and ds.kind == "table"
    assert ds.render(11) == {"w": 2.0, "h": 1.0} and ds.y.tolist() == [0, 1, -1, 0]
    with pytest.raises(InvalidDataError, match=r"\['colour'\] are not numeric"):
        al.from_dataframe(df, feature_columns=["w", "colour"], label_column="kind")
    nan = df.assign(w=[1.0, np.nan, 3.0, 4.0])
    with pytest.raises(InvalidDataError, match="row 1, column 'w'"):
        al.from_dataframe(nan, feature_columns=["w", "h"], label_column="kind")
    with pytest.raises(InvalidDataError, match=r"\['label'\] not found"):
        al.from_dataframe(df, label_column="label")
    df.to_parquet(tmp_path / "d.parquet")
    assert len(al.from_dataframe(tmp_path / "d.parquet", label_column="kind", id_column="sku")) == 4


# -- export ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["csv", "parquet", "jsonl"])
def test_export_labels_and_predictions(tmp_path, blobs, ext):
    s = al.Session(blobs, model=_lr(), store=tmp_path / "e.db", annotator="ann", test_size=0)
    for item_id in s.next_batch(6):
        s.label(item_id, blobs.classes[blobs.y[blobs.position(item_id)]], seconds=2.5)
    path = s.export(tmp_path / f"labels.{ext}")
    read = {"csv": pd.read_csv, "parquet": pd.read_parquet,
            "jsonl": lambda p: pd.read_json(p, lines=True)}[ext]
    got = read(path)
    assert len(got) == 6 and set(got.columns) >= {"item_id", "label", "annotator", "labeled_at", "seconds"}
    assert (got["annotator"] == "ann").all() and (got["seconds"] == 2.5).all()
    s.retrain()
    got = read(s.export(tmp_path / f"all.{ext}", include_predictions=True))
    assert len(got) == len(blobs) and got["label"].notna().sum() == 6
    assert got["prediction"].isin(blobs.classes).all() and got["confidence"].between(0, 1).all()
    truth = {i: blobs.classes[blobs.y[blobs.position(i)]] for i in got["item_id"]}
    assert (got["prediction"] == got["item_id"].map(truth)).mean() > 0.9


def test_export_refuses_unknown_formats_and_missing_model(tmp_path, blobs):
    s = al.Session(blobs, model=_lr(), store=tmp_path / "e.db", test_size=0)
    with pytest.raises(InvalidDataError, match="unknown format '.xls'"):
        s.export(tmp_path / "x.xls")
    with pytest.raises(al.ActiveLearnError, match="retrain"):
        s.export(tmp_path / "x.csv", include_predictions=True)
