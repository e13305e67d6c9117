import numpy as np
import pytest

from features.core.config import ParamsError, load_params
from features.core.paths import feature_file
from features.core.store import FeatureRecord, StoreError, read_features, read_record, write_feature_file
from features.tracks.frames import middle_frames


def test_middle_frames_window_and_padding():
    idx, valid = middle_frames(100, 88)
    assert idx[0] == 6 and idx[-1] == 93 and valid.all()
    idx, valid = middle_frames(80, 88)
    assert len(idx) == 88 and valid.sum() == 80
    assert idx[0] == 0 and idx[-1] == 79           # edge repetition
    assert not valid[:4].any() and not valid[-4:].any()
    assert (idx[valid] == np.arange(80)).all()


def _records(actor: int, n: int = 3):
    rng = np.random.default_rng(actor)
    return [FeatureRecord(f"01-01-0{e}-01-01-01-{actor:02d}", rng.normal(size=(88, 4)).astype(np.float32),
                          np.arange(88) % 10 != 0, np.arange(6, 94), "abc") for e in range(1, n + 1)]


def test_store_round_trip_and_stacking(tmp_path):
    recs = {a: _records(a) for a in (3, 4)}
    for a, rs in recs.items():
        write_feature_file(feature_file("toy", a, tmp_path), "toy", rs, {"k": 1}, actor=a)
    ids = ["01-01-02-01-01-01-04", "01-01-01-01-01-01-03"]
    x, mask = read_features("toy", ids, tmp_path)
    assert x.shape == (2, 88, 4) and mask.shape == (2, 88)
    np.testing.assert_array_equal(x[0], recs[4][1].data)
    np.testing.assert_array_equal(mask[1], recs[3][0].valid)
    rec = read_record(feature_file("toy", 3, tmp_path), ids[1])
    assert rec.source == "abc" and (rec.frame_indices == np.arange(6, 94)).all()
    with pytest.raises(StoreError, match="no entry for video 01-01-08"):
        read_features("toy", ["01-01-08-01-01-01-03"], tmp_path)
    with pytest.raises(StoreError, match="feature file not found"):
        read_features("toy", ["01-01-08-01-01-01-05"], tmp_path)


def test_store_bytes_are_stable(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write_feature_file(a, "toy", _records(1), {"k": 1})
    write_feature_file(b, "toy", list(reversed(_records(1))), {"k": 1})
    assert a.read_bytes() == b.read_bytes()


def test_store_atomic_on_failure(tmp_path):
    bad = [FeatureRecord("x", np.zeros((2, 2))), FeatureRecord("x", np.zeros((2, 2)))]
    with pytest.raises(StoreError):
        write_feature_file(tmp_path / "f.h5", "toy", bad)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_file_is_reported(tmp_path):
    p = feature_file("toy", 1, tmp_path)
    write_feature_file(p, "toy", _records(1))
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(StoreError, match="unreadable HDF5"):
        read_features("toy", ["01-01-01-01-01-01-01"], tmp_path)


def test_params_loader_validates_actors(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("dataset:\n  actors: [1, 2]\n")
    with pytest.raises(ParamsError, match="two-digit"):
        load_params(p)
    p.write_text("dataset:\n  actors: ['01']\n")
    assert load_params(p)["dataset"]["actors"] == ["01"]
