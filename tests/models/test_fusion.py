"""Late fusion: inner out-of-fold plan, fitting without test data, the fusion stages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import models.fusion as fusion
from features.core.config import dump_params
from models.fusion import fuse_fold, inner_plan, member_posteriors, parse_member
from models.hparams import resolve_experiment
from tests.helpers.synthetic_features import synthetic_manifest, write_synthetic_features

REPO = Path(__file__).resolve().parents[2]
TINY = {"epochs": 6, "filters": 8, "scales": 2, "layers": 1, "batch_size": 32, "threads": 1,
        "mlp_hidden": [16, 16], "lr": 0.01}
NAMES = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


def test_inner_plan_never_trains_on_the_test_fold():
    plan = inner_plan([0, 1, 2, 3, 4], 2)
    assert plan == [(0, [1, 3, 4]), (1, [0, 3, 4]), (3, [0, 1, 4]), (4, [0, 1, 3])]
    assert all(2 not in folds and j not in folds for j, folds in plan)
    assert parse_member("lms+kpd_face") == ["lms", "kpd_face"]
    with pytest.raises(ValueError):
        inner_plan([0, 1], 3)


def _member_frame(rng, manifest, test_fold, quality):
    """Posteriors that favour the true label with probability ``quality``."""
    rows = []
    for _, r in manifest.iterrows():
        k = int(r["fold"])
        p = rng.dirichlet(np.ones(8))
        if rng.random() < quality:
            p = 0.5 * p + 0.5 * np.eye(8)[int(r["label"])]
        split = "test" if k == test_fold else "oof"
        trained_on = [f for f in range(5) if f not in (test_fold, k)] if split == "oof" else \
            [f for f in range(5) if f != test_fold]
        rows.append({"video_id": r["video_id"], "actor": r["actor"], "fold": k,
                     "label": r["label"], "predicted": int(p.argmax()), "split": split,
                     "trained_on": ",".join(map(str, trained_on)),
                     **{f"p_{n}": p[i] for i, n in enumerate(NAMES)}})
    return pd.DataFrame(rows)


def test_fitting_never_sees_test_data():
    rng = np.random.default_rng(0)
    manifest = synthetic_manifest(list(range(1, 25)), 16)
    members = {"a": _member_frame(rng, manifest, 1, 0.6), "b": _member_frame(rng, manifest, 1, 0.5)}
    pred, model = fuse_fold(members, 1, NAMES)
    assert set(pred["actor"]) == {3, 6, 7, 13, 18} and len(pred) == 80
    assert (pred["predicted"] == pred["label"]).mean() > 0.6
    # scrambling the test rows (posteriors and labels) leaves the fitted model unchanged
    scrambled = {}
    for name, df in members.items():
        df = df.copy()
        test = df["split"] == "test"
        cols = [c for c in df.columns if c.startswith("p_")]
        df.loc[test, cols] = rng.dirichlet(np.ones(8), size=int(test.sum()))
        df.loc[test, "label"] = rng.integers(0, 8, int(test.sum()))
        scrambled[name] = df
    _, model2 = fuse_fold(scrambled, 1, NAMES)
    assert np.array_equal(model.model.coef_, model2.model.coef_)
    assert np.array_equal(model.low, model2.low) and np.array_equal(model.high, model2.high)
    # out-of-fold posteriors from a model that saw the test fold are refused
    leaky = {k: v.copy() for k, v in members.items()}
    leaky["a"].loc[leaky["a"]["split"] == "oof", "trained_on"] = "0,1,2,3,4"
    with pytest.raises(ValueError, match="includes the test fold"):
        fuse_fold(leaky, 1, NAMES)
    leaky = {k: v.copy() for k, v in members.items()}
    for df in leaky.values():
        df.loc[df["fold"] == 1, "split"] = "oof"
    with pytest.raises(ValueError, match="test-fold clips"):
        fuse_fold(leaky, 1, NAMES)
    with pytest.raises(ValueError, match="two members"):
        fuse_fold({"a": members["a"]}, 1, NAMES)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Actors 1-8 (folds 0, 1, 3, 4 present) with lms- and kpd-shaped synthetic features."""
    root = tmp_path_factory.mktemp("fusion_features")
    manifest = synthetic_manifest(list(range(1, 9)), 16)
    write_synthetic_features(root, manifest, {"lms": (88, 24), "kpd_face": (88, 40)}, amplitude=0.8)
    return root, manifest


def test_member_posteriors_come_from_models_without_the_test_fold(small, monkeypatch):
    root, manifest = small
    trained = []
    real = fusion.run_fold

    def spy(exp, train_rows, test_rows, root_, log):
        trained.append((set(train_rows["actor"]), set(test_rows["fold"])))
        return real(exp, train_rows, test_rows, root_, log)

    monkeypatch.setattr(fusion, "run_fold", spy)
    exp = resolve_experiment({"modalities": ["lms"], **TINY})
    df, missing = member_posteriors(exp, manifest, 4, root, log=lambda s: None)
    assert not missing
    test_actors = {1, 4}                                    # fold 4
    assert len(trained) == 4                                # outer model + 3 inner folds
    assert all(not actors & test_actors for actors, _ in trained)
    assert set(df.loc[df["split"] == "test", "actor"]) == test_actors
    oof = df[df["split"] == "oof"]
    assert set(oof["actor"]) == {2, 3, 5, 6, 7, 8} and len(oof) == 6 * 16
    assert all("4" not in t.split(",") for t in oof["trained_on"])


def test_fusion_stages(small, tmp_path, monkeypatch):
    from stages import fusion as stage
    root, manifest = small
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"].update(TINY, folds=[4], modalities=["lms"])
    params["fusion"].update(members=["lms", "kpd_face"], methods=["logreg"])
    (tmp_path / "params.yaml").write_text(dump_params(params))
    (tmp_path / "data").mkdir()
    manifest.to_parquet(tmp_path / "data/manifest.parquet", index=False)
    shutil.copytree(root, tmp_path / "data/features")
    monkeypatch.chdir(tmp_path)
    for member in ("lms", "kpd_face"):
        stage.main(["member", member, "4"])
        assert Path(f"data/fusion/members/{member}/fold_4.parquet").exists()
        assert Path(f"reports/problems/fusion/{member}/fold_4.csv").exists()
    stage.main(["fuse", "logreg"])
    pred = pd.read_parquet("data/fusion/logreg/fold_4.parquet")
    assert set(pred["actor"]) == {1, 4} and len(pred) == 32
    metrics = json.loads(Path("reports/fusion/logreg/metrics.json").read_text())
    assert set(metrics) == {"fused", "lms", "kpd_face"}
    # one fold: the reported accuracy is that fold's share of correct fused predictions
    assert metrics["fused"]["accuracy"]["mean"] == pytest.approx((pred["label"] == pred["predicted"]).mean())
    assert "late fusion" in Path("reports/fusion/logreg/comparison.md").read_text()
    with pytest.raises(SystemExit, match="unknown method"):
        stage.main(["fuse", "vote"])
