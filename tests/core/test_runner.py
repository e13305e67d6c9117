"""The per-actor runner: each clip's inputs are loaded once for all features, in parallel; bad
inputs are reported per feature and skipped; on_error: fail stops before writing; outputs are
written through the HDF5 store, spilled arrays included."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.core.manifest import actor_manifest_path
from features.core.problems import StageFailure, read_problems
from features.core.runner import Clip, Feature, Output, Source, run_actor
from features.core.store import list_ids, read_file_attrs, read_record

IDS = [f"01-01-0{e}-01-01-01-02" for e in range(1, 6)]
LOADS: Counter = Counter()
LOCK = threading.Lock()


class BadInput(ValueError):
    pass


def load(clip: Clip, scale: float):
    """A toy input: the clip's number as an array; the clip named 'bad' is unusable."""
    with LOCK:
        LOADS[clip.video_id] += 1
    if clip.media == "bad":
        raise BadInput(f"{clip.media}: unreadable")
    n = int(clip.video_id[7])
    return type("Inputs", (), {"x": np.arange(4.0) * n * scale, "source": f"src-{n}",
                               "notes": [("shared note", "noted", False)]})()


def total(inputs, cfg):
    return Output(np.array([inputs.x.sum() + cfg]), None), []


def frames(inputs, cfg):
    return Output(inputs.x[:, None].repeat(3, 1), inputs.x > 0, np.arange(4)), [("short", "padded", False)]


@pytest.fixture
def actor(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [{"video_id": v, "path": "bad" if i == 2 else f"clip{i}.mp4", "actor": 2}
            for i, v in enumerate(IDS)]
    path = actor_manifest_path(2, Path("data/manifest_by_actor"))
    path.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(path)
    LOADS.clear()
    return tmp_path


def _params(jobs=2, on_error="skip"):
    return {"compute": {"jobs": jobs, "backend": "loky"}, "dataset": {"on_error": on_error}}


@pytest.mark.parametrize("spill", [False, True])
def test_inputs_loaded_once_for_all_features(actor, spill):
    source = Source(load, lambda c: c.media, (BadInput,), config=2.0)
    feats = [Feature("total", total, 1.0, {"k": 1}), Feature("frames", frames, None)]
    counts = run_actor("toy", 2, _params(), source, feats, spill=spill)
    assert counts == {"total": 4, "frames": 4}
    assert LOADS == {v: 1 for v in IDS}                     # once per clip, not once per feature
    good = [v for i, v in enumerate(IDS) if i != 2]
    assert list_ids("data/features/total/Actor_02.h5") == good
    rec = read_record("data/features/total/Actor_02.h5", IDS[3])
    assert rec.data.tolist() == [4 * 6.0 * 2 + 1] and rec.source == "src-4"
    fr = read_record("data/features/frames/Actor_02.h5", IDS[1])
    assert fr.data.shape == (4, 3) and fr.valid.tolist() == [False, True, True, True]
    assert read_file_attrs("data/features/total/Actor_02.h5")["params"] == {"k": 1}
    for name in ("total", "frames"):
        rows = read_problems(f"reports/problems/{name}/Actor_02.csv")
        skipped = [r for r in rows if r["action"] == "skipped"]
        assert [(r["video_id"], r["path"], r["problem"]) for r in skipped] == [
            (IDS[2], "bad", "bad: unreadable")]
        assert sum(r["problem"] == "shared note" for r in rows) == 4
    assert sum(r["action"] == "padded" for r in read_problems("reports/problems/frames/Actor_02.csv")) == 4


def test_on_error_fail_stops_before_writing(actor):
    source = Source(load, lambda c: c.media, (BadInput,), config=1.0)
    with pytest.raises(StageFailure, match="bad: unreadable"):
        run_actor("toy", 2, _params(jobs=1, on_error="fail"), source, [Feature("total", total, 0.0)])
    assert not Path("data/features/total/Actor_02.h5").exists()


def test_a_bug_in_a_recipe_propagates(actor):
    def broken(inputs, cfg):
        raise KeyError("bug")
    source = Source(load, lambda c: c.media, (BadInput,), config=1.0)
    with pytest.raises(KeyError):
        run_actor("toy", 2, _params(jobs=1), source, [Feature("total", broken)])
