import io

import numpy as np
import pytest

import activelearn as al
from activelearn.datasets import MISSING


def test_load_digits_shapes_and_classes(digits):
    assert digits.X.shape == (1797, 64) and digits.X.dtype == np.float32
    assert digits.classes == [str(i) for i in range(10)]
    assert 0.0 <= digits.X.min() and digits.X.max() <= 1.0
    assert np.bincount(digits.y).min() > 170


def test_load_digits_renders_png_of_the_item(digits):
    from PIL import Image

    png = digits.render(5)
    img = Image.open(io.BytesIO(png))
    assert img.size == (8, 8)
    pixels = np.asarray(img, dtype=float)
    assert np.corrcoef(pixels.ravel(), digits.X[5])[0, 1] > 0.99


def test_from_arrays_accepts_names_and_positions():
    X = np.arange(12, dtype=float).reshape(6, 2)
    by_name = al.from_arrays(X, y=["b", "a", "b", None, "a", "b"], classes=["a", "b"])
    by_pos = al.from_arrays(X, y=[1, 0, 1, -1, 0, 1], classes=["a", "b"])
    np.testing.assert_array_equal(by_name.y, [1, 0, 1, MISSING, 0, 1])
    np.testing.assert_array_equal(by_pos.y, by_name.y)


def test_from_arrays_infers_classes_from_y():
    ds = al.from_arrays(np.zeros((4, 1)), y=["dog", "cat", "dog", "cat"])
    assert ds.classes == ["cat", "dog"]


def test_table_render_is_a_dict_with_feature_names():
    ds = al.load_wine()
    row = ds.render(0)
    assert list(row)[:2] == ["alcohol", "malic_acid"] and row["alcohol"] == pytest.approx(14.23)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_features_are_refused_with_row(bad):
    X = np.ones((10, 3))
    X[7, 1] = bad
    with pytest.raises(al.InvalidDataError, match=r"NaN or infinite.*\[7\]"):
        al.from_arrays(X, classes=["a", "b"])


def test_length_mismatch_is_refused():
    with pytest.raises(al.InvalidDataError, match="X has 5 items but y has 4"):
        al.from_arrays(np.ones((5, 2)), y=["a", "b", "a", "b"])


def test_label_outside_classes_is_refused():
    with pytest.raises(al.UnknownLabelError, match=r"row 2 = 'zebra'"):
        al.from_arrays(np.ones((3, 2)), y=["a", "b", "zebra"], classes=["a", "b"])


def test_duplicate_ids_are_refused():
    with pytest.raises(al.InvalidDataError, match="unique"):
        al.from_arrays(np.ones((3, 2)), classes=["a", "b"], ids=["x", "y", "x"])


def test_unlabeled_pool_needs_class_names():
    with pytest.raises(al.InvalidDataError, match="classes="):
        al.from_arrays(np.ones((3, 2)))


def test_unknown_item_id_is_refused(blobs):
    with pytest.raises(al.UnknownItemError, match="nope"):
        blobs.position("nope")


def test_integer_ids_accept_their_string_form(digits):
    assert digits.position("17") == 17


def test_one_id_lookup_agrees_with_the_many_id_lookup_for_every_spelling():
    # position() looks one id up in a dictionary; positions() in a pandas index: same answers, same refusals.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 2))
    for ids in ([40, 7, 13, 2, 99, 5], ["b", "a", "item 3", "é", "12", "0"]):
        ds = al.from_arrays(X, y=[0, 1, 0, 1, 0, 1], classes=[0, 1], ids=ids)
        spellings = [*ids, *np.asarray(ids), *(str(i) for i in ids)]
        for item_id in spellings:
            assert ds.position(item_id) == int(ds.positions([item_id])[0])
        for bad in ("nope", 1000, True, None):
            with pytest.raises(al.UnknownItemError):
                ds.position(bad)


def test_fingerprint_changes_with_data(blobs):
    other = al.from_arrays(blobs.X + 1, y=blobs.y, classes=blobs.classes, ids=blobs.ids)
    assert blobs.fingerprint() != other.fingerprint()
    same = al.from_arrays(blobs.X.copy(), y=blobs.y, classes=blobs.classes, ids=blobs.ids)
    assert blobs.fingerprint() == same.fingerprint()


def test_save_and_load_roundtrip(tmp_path, blobs):
    path = blobs.save(tmp_path / "blobs.npz")
    back = al.load_dataset(str(path))
    np.testing.assert_array_equal(back.X, blobs.X)
    np.testing.assert_array_equal(back.y, blobs.y)
    assert back.ids.tolist() == blobs.ids.tolist() and back.classes == blobs.classes
    assert back.fingerprint() == blobs.fingerprint()


def test_load_dataset_unknown_name():
    with pytest.raises(al.InvalidDataError, match="digits, wine, iris"):
        al.load_dataset("mnist-from-the-internet")


def test_as_dataset_takes_a_scikit_learn_bunch_a_pair_and_names(tmp_path):
    from sklearn import datasets as skd

    from activelearn.datasets import as_dataset

    digits = as_dataset(skd.load_digits())
    assert digits.kind == "image" and digits.image_shape == (8, 8) and len(digits) == 1797
    assert digits.class_names == [str(c) for c in range(10)]
    assert digits.class_names[digits.y[0]] == "0" and digits.class_names[digits.y[10]] == "0"
    wine = as_dataset(skd.load_wine())
    assert wine.kind == "table" and wine.class_names == ["class_0", "class_1", "class_2"]
    assert list(wine.render(wine.ids[0]))[0] == "alcohol"
    pair = as_dataset((np.eye(4), np.array(["a", "b", "a", "b"])))
    assert pair.class_names == ["a", "b"] and list(pair.y) == [0, 1, 0, 1]
    assert as_dataset("iris").name == "iris"
    same = as_dataset(pair)
    assert same is pair


def test_session_and_simulate_take_a_bunch_and_reject_other_things_clearly():
    from sklearn import datasets as skd

    from activelearn import Session
    from activelearn.exceptions import InvalidDataError

    session = Session(skd.load_iris(), store=":memory:", prepare="wait")
    assert session.dataset.class_names == ["setosa", "versicolor", "virginica"]
    assert len(session.next_batch()) == session.batch_size
    with pytest.raises(InvalidDataError, match="expected a dataset, got list.*from_arrays"):
        Session([[0.0, 1.0], [1.0, 0.0]], store=":memory:")
