"""Training recipe, folds, hyperparameters, standardisation and the train stage on synthetic features."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from features.core.config import dump_params
from features.core.ravdess import PAPER_FOLDS
from models.data import Standardiser, fold_split, inner_validation_actors, load_feature
from models.folds import load_checkpoint, predictions_frame, run_fold
from models.hparams import ExperimentError, resolve_experiment
from models.metrics import fold_scores
from models.training import class_weights, keras_weighted_loss, loss_fn, smooth_targets
from tests.helpers.synthetic_features import synthetic_manifest, write_synthetic_features

REPO = Path(__file__).resolve().parents[2]
TINY = {"epochs": 12, "filters": 8, "scales": 3, "layers": 2, "batch_size": 32, "threads": 1,
        "mlp_hidden": [16, 16], "lr": 0.005}


def _train_params(**over) -> dict:
    train = dict(yaml.safe_load((REPO / "params.yaml").read_text())["train"])
    train.update(TINY)
    train.update(over)
    return train


def test_label_smoothing_values():
    t = smooth_targets(np.array([0, 3]), 8, 0.1)
    assert t.shape == (2, 8)
    assert np.isclose(t[0, 0], 0.9125) and np.isclose(t[1, 3], 0.9125)
    assert np.allclose(np.delete(t[0], 0), 0.0125)
    assert np.allclose(t.sum(1), 1.0)
    logits = torch.randn(2, 8)
    manual = -(torch.from_numpy(t) * torch.log_softmax(logits, 1)).sum(1).mean()
    # F.cross_entropy(label_smoothing) is the old hand-rolled loss on the smoothed targets
    assert torch.isclose(loss_fn(logits, torch.tensor([0, 3]), 0.1), manual)
    assert torch.isclose(keras_weighted_loss(logits, torch.from_numpy(t)), manual)


def test_binary_class_weights():
    y = np.array([1] * 10 + [0] * 70)
    w = class_weights(y, 2)
    assert np.allclose(w, [80 / (2 * 70), 80 / (2 * 10)])
    # Houmard eq. 6.3 on the full corpus: 1440 clips, 192 of one (non-neutral) emotion
    y = np.array([1] * 192 + [0] * 1248)
    assert np.allclose(class_weights(y, 2), [720 / 1248, 720 / 192])
    with pytest.raises(ValueError, match="no training sample"):
        class_weights(np.zeros(5, int), 2)
    # Keras class_weight semantics multiply each sample's loss by its class weight
    logits = torch.zeros(2, 2)
    t = torch.from_numpy(smooth_targets(np.array([0, 1]), 2))
    plain = keras_weighted_loss(logits, t)
    assert torch.isclose(keras_weighted_loss(logits, t, torch.tensor([2.0, 2.0])), 2 * plain)


def test_weighted_smoothed_loss_matches_the_old_per_sample_definition():
    """loss_fn (F.cross_entropy(label_smoothing) + per-sample class weights) equals the old
    hand-rolled loss with and without class weights; PyTorch's weight= variant differs."""
    torch.manual_seed(0)
    logits = torch.randn(6, 2, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 0, 0, 1])
    w = torch.tensor([0.6, 3.0], dtype=torch.float64)
    t = torch.from_numpy(smooth_targets(y.numpy(), 2, 0.1)).double()
    assert torch.isclose(loss_fn(logits, y, 0.1, w), keras_weighted_loss(logits, t, w[y]))
    assert torch.isclose(loss_fn(logits, y, 0.1), keras_weighted_loss(logits, t))
    logits8, y8 = torch.randn(5, 8, dtype=torch.float64), torch.tensor([0, 7, 3, 3, 1])
    t8 = torch.from_numpy(smooth_targets(y8.numpy(), 8, 0.1)).double()
    assert torch.isclose(loss_fn(logits8, y8, 0.1), keras_weighted_loss(logits8, t8))
    pytorch_weighted = torch.nn.functional.cross_entropy(logits, y, weight=w, label_smoothing=0.1)
    assert not torch.isclose(pytorch_weighted, loss_fn(logits, y, 0.1, w))


def test_fold_splits_are_actor_independent():
    m = synthetic_manifest(list(range(1, 25)), 16)
    seen_test = []
    for k, actors in enumerate(PAPER_FOLDS):
        train, test = fold_split(m, k)
        assert set(test["actor"]) == set(actors)
        assert not set(train["actor"]) & set(test["actor"])
        assert len(train) + len(test) == len(m)
        seen_test += sorted(set(test["actor"]))
    assert sorted(seen_test) == list(range(1, 25))
    bad = m.copy()
    bad.loc[bad.index[0], "fold"] = 3          # one clip of actor 1 moved to another fold
    with pytest.raises(ValueError, match="both train and test"):
        fold_split(bad, 3)


def test_inner_validation_actors_are_one_male_one_female():
    picked = inner_validation_actors(list(range(1, 21)), 2, seed=0)
    assert len(picked) == 2 and {a % 2 for a in picked} == {0, 1}
    assert picked == inner_validation_actors(list(range(1, 21)), 2, seed=0)
    with pytest.raises(ValueError):
        inner_validation_actors([1, 2], 2, seed=0)


def test_paper_hyperparameters_and_overrides():
    nulls = {k: None for k in ("epochs", "lr", "batch_size", "filters", "scales", "layers",
                               "kernel_size", "dropout")}
    e = resolve_experiment({"modalities": ["lms"], **nulls})
    assert (e.lr, e.batch_size, e.epochs) == (1e-3, 64, 100)
    assert e.trunks["lms"] == {"filters": 64, "scales": 7, "layers": 3, "kernel_size": 2, "dropout": 0.1}
    assert e.adam_betas == (0.93, 0.98) and e.adam_eps == 1e-8 and e.label_smoothing == 0.1
    assert resolve_experiment({"modalities": ["kpd_face"], "task": "binary", "target": "sad",
                               **nulls}).lr == 2e-4
    assert resolve_experiment({"modalities": ["kpd_face"], **nulls}).lr == 5e-4
    assert resolve_experiment({"modalities": ["pose"], **nulls}).trunks["pose"]["scales"] == 8
    assert resolve_experiment({"modalities": ["au"], **nulls}).epochs == 40
    e = resolve_experiment({"modalities": ["wav2vec2"], **nulls})
    assert (e.lr, e.batch_size, e.trunks["wav2vec2"]["scales"]) == (5e-5, 16, 8)
    assert resolve_experiment({"modalities": ["resnet_eyes"], **nulls}).trunks["resnet_eyes"]["filters"] == 32
    e = resolve_experiment({"modalities": ["lms", "kpd_face"], **nulls})
    assert (e.lr, e.batch_size, e.epochs) == (2e-3, 64, 100)
    assert all(t["scales"] == 7 and t["filters"] == 64 for t in e.trunks.values())
    assert "multimodal with LMS" in e.sources["lr"]
    e = resolve_experiment({"modalities": ["wav2vec2", "kpd_face"], **nulls})
    assert e.lr == 1e-4
    e = resolve_experiment({"modalities": ["lms", "kpd_eyes"], **nulls})
    assert all(t["filters"] == 32 for t in e.trunks.values())
    # params override the paper, per_modality overrides both
    e = resolve_experiment({"modalities": ["lms", "kpd_face"], **nulls, "epochs": 7, "scales": 5,
                            "per_modality": {"lms": {"scales": 4}}})
    assert e.epochs == 7 and e.sources["epochs"] == "params"
    assert e.trunks["lms"]["scales"] == 4 and e.trunks["kpd_face"]["scales"] == 5
    b = resolve_experiment({"modalities": ["lms"], "task": "binary", "target": "angry"})
    assert b.class_names == ["not_angry", "angry"] and b.n_classes == 2
    for bad, match in [({"modalities": []}, "modalities"), ({"modalities": ["smell"]}, "unknown"),
                       ({"modalities": ["lms"], "task": "binary", "target": "bored"}, "target"),
                       ({"modalities": ["lms"], "selection": "best"}, "selection"),
                       ({"modalities": ["lms"], "per_modality": {"lms": {"depth": 2}}}, "unknown keys")]:
        with pytest.raises(ExperimentError, match=match):
            resolve_experiment(bad)


def test_standardiser_uses_training_statistics_and_is_nan_safe():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 2.0, size=(50, 10, 3)).astype(np.float32)
    x[0, 0, 0] = np.nan
    x[1, 1, 1] = np.inf
    x[:, :, 2] = 7.0                                   # constant dimension
    mask = np.ones((50, 10), bool)
    mask[2, :5] = False
    x[2, :5] = 1e6                                     # invalid frames must not count
    s = Standardiser.fit(x, mask)
    assert np.allclose(s.mean[:2], 5.0, atol=0.3) and np.allclose(s.std[:2], 2.0, atol=0.3)
    assert s.mean[2] == 7.0 and s.std[2] == 1.0
    z = s.transform(x, mask)
    assert np.isfinite(z).all() and z[0, 0, 0] == 0 and z[1, 1, 1] == 0
    assert (z[2, :5] == 0).all() and (z[:, :, 2] == 0).all()
    test = np.full((1, 10, 3), 5.0, np.float32)        # transformed with the training statistics
    assert np.allclose(s.transform(test)[..., 0], (5.0 - s.mean[0]) / s.std[0])


def test_load_feature_rejects_non_sequences(tmp_path):
    from features.core.paths import feature_file
    from features.core.store import FeatureRecord, StoreError, write_feature_file
    vid = "01-01-01-01-01-01-01"
    write_feature_file(feature_file("stats", 1, tmp_path), "stats",
                       [FeatureRecord(vid, np.zeros(12, np.float32))])
    with pytest.raises(StoreError, match="per-clip vectors"):
        load_feature("stats", [vid], tmp_path)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """12 actors x 16 clips: lms-shaped (88, 24) and a smaller kpd-like (88, 60) feature."""
    root = tmp_path_factory.mktemp("features")
    actors = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    manifest = synthetic_manifest(actors, 16)
    write_synthetic_features(root, manifest, {"lms": (88, 24), "kpd_face": (88, 60)},
                             amplitude=0.8, invalid_fraction=0.05)
    return root, manifest


def test_training_learns_the_synthetic_signal(synthetic):
    root, manifest = synthetic
    exp = resolve_experiment(_train_params(modalities=["lms", "kpd_face"], epochs=25))
    train, test = fold_split(manifest, 4)              # test actors 1, 4, 9
    run = run_fold(exp, train, test, root, log=lambda s: None)
    preds = predictions_frame(exp, run.test_rows, run.posteriors)
    acc = fold_scores(preds["label"], preds["predicted"], 8)["accuracy"]
    assert acc >= 0.5, acc                             # chance is 0.125
    assert np.allclose(run.posteriors.sum(1), 1.0)
    losses = [h["train_loss"] for h in run.result.history]
    assert run.result.best_epoch == int(np.argmin(losses)) + 1   # lowest training loss
    assert losses[-1] < losses[0]
    assert set(preds["actor"]) == {1, 4, 9} and not set(run.train_actors) & {1, 4, 9}


def test_binary_one_vs_rest_training(synthetic):
    root, manifest = synthetic
    exp = resolve_experiment(_train_params(modalities=["lms"], task="binary", target="happy",
                                           epochs=25))
    train, test = fold_split(manifest, 0)              # test actors 2 and 5
    run = run_fold(exp, train, test, root, log=lambda s: None)
    preds = predictions_frame(exp, run.test_rows, run.posteriors)
    assert list(preds.columns[-2:]) == ["p_not_happy", "p_happy"]
    assert preds["label"].sum() == 4                   # 2 happy clips per actor
    assert (preds.loc[preds["label"] == 1, "emotion_label"] == 2).all()
    scores = fold_scores(preds["label"], preds["predicted"], 2)
    assert scores["macro_f1"] > 0.7, scores            # always-"rest" would score 0.47


def test_validation_split_selection_and_early_stopping(synthetic):
    root, manifest = synthetic
    exp = resolve_experiment(_train_params(modalities=["lms"], selection="val_loss", patience=2,
                                           epochs=60, lr=0.05))
    train, test = fold_split(manifest, 0)
    lines: list[str] = []
    run = run_fold(exp, train, test, root, log=lines.append)
    assert len(run.val_actors) == 2 and {a % 2 for a in run.val_actors} == {0, 1}
    assert not set(run.val_actors) & set(run.train_actors)
    assert not set(run.val_actors) & {2, 5}
    val = [h["val_loss"] for h in run.result.history]
    assert run.result.best_epoch == int(np.argmin(val)) + 1
    n = len(run.result.history)
    assert run.result.stopped_early and n < 60 and n - run.result.best_epoch == 2
    assert any("early stop" in line for line in lines)


def _project(tmp_path: Path, manifest: pd.DataFrame, features: Path, **train) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"] = _train_params(**train)
    (tmp_path / "params.yaml").write_text(dump_params(params))
    (tmp_path / "data").mkdir(exist_ok=True)
    manifest.to_parquet(tmp_path / "data/manifest.parquet", index=False)
    shutil.copytree(features, tmp_path / "data/features")


def test_train_stage_writes_outputs_and_reloadable_checkpoint(synthetic, tmp_path, monkeypatch):
    from stages import train as train_stage
    root, manifest = synthetic
    _project(tmp_path, manifest, root, modalities=["lms"], epochs=4)
    (tmp_path / "data/features/lms/Actor_03.h5").unlink()    # a missing feature file
    monkeypatch.chdir(tmp_path)
    train_stage.main(["1"])                      # test actors 3, 6, 7
    preds = pd.read_parquet("data/predictions/fold_1.parquet")
    assert set(preds["actor"]) == {6, 7} and len(preds) == 32
    assert {"video_id", "actor", "fold", "label", "predicted", "p_neutral", "p_surprised"} <= set(preds)
    problems = pd.read_csv("reports/problems/train/fold_1.csv")
    assert len(problems) == 16 and problems["path"].str.contains("Actor_03.h5").all()
    info = json.loads(Path("reports/train/fold_1.json").read_text())
    assert info["selection"] == "train_loss" and info["n_test"] == 32 and info["n_excluded"] == 16
    assert info["test_actors"] == [6, 7] and 3 not in info["train_actors"]
    assert len(pd.read_csv("reports/train/fold_1_history.csv")) == 4
    assert "test fold 1: accuracy" in Path("reports/train/fold_1.log").read_text()
    # the checkpoint loads with weights_only=True and reproduces the stored posteriors
    ckpt = torch.load("data/models/fold_1/model.pt", weights_only=True)
    assert ckpt["experiment"]["modalities"] == ["lms"] and "state_dict" in ckpt
    model, exp, stds = load_checkpoint("data/models/fold_1/model.pt")
    x, mask = load_feature("lms", preds["video_id"].tolist(), Path("data/features"))
    with torch.no_grad():
        post = torch.softmax(model({"lms": torch.from_numpy(stds["lms"].transform(x, mask))}), 1)
    assert np.allclose(post.numpy(), preds[[f"p_{c}" for c in exp.class_names]].to_numpy(), atol=1e-5)


def test_new_defaults_resolve_to_the_paper_and_validate():
    from models.hparams import AUGMENT_DEFAULTS
    e = resolve_experiment({"modalities": ["lms"], "bn_momentum": None})
    assert e.bn_momentum == 0.01 and "paper" in e.sources["bn_momentum"]   # Keras 0.99
    assert resolve_experiment({"modalities": ["lms"], "bn_momentum": 0.1}).bn_momentum == 0.1
    assert (e.seeds, e.jobs, e.standardise) == (1, 1, "fold")
    assert e.augment == AUGMENT_DEFAULTS and e.augment["mixup"] == 0.0
    assert e.augment["time_masks"] == 0 and e.augment["freq_masks"] == 0
    a = resolve_experiment({"modalities": ["lms"], "augment": {"time_masks": 2, "mixup": 0.2,
                                                              "modalities": "lms"}}).augment
    assert a["time_masks"] == 2 and a["mixup"] == 0.2 and a["modalities"] == ["lms"]
    assert a["freq_width"] == AUGMENT_DEFAULTS["freq_width"]
    # the repo's params.yaml: only the documented demo budget differs from the paper
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    assert p["train"]["standardise"] == "fold" and p["train"]["seeds"] == 1
    assert p["train"]["augment"]["time_masks"] == 0 and p["train"]["augment"]["mixup"] == 0.0
    assert p["features"]["lms"]["db_ref"] == "absolute" and p["features"]["lms"]["top_db"] is None
    for bad, match in [({"standardise": "speaker"}, "standardise"), ({"seeds": 0}, "seeds"),
                       ({"augment": {"warp": 1}}, "unknown keys"),
                       ({"augment": {"mixup": -1}}, "mixup"), ({"bn_momentum": 0}, "bn_momentum")]:
        with pytest.raises(ExperimentError, match=match):
            resolve_experiment({"modalities": ["lms"], **bad})


def test_threads_share_the_cores_between_parallel_jobs(monkeypatch):
    from models import folds
    monkeypatch.setattr(folds, "available_cores", lambda: 8)
    assert folds.resolve_threads(0, 1) == 8 and folds.resolve_threads(0, 2) == 4
    assert folds.resolve_threads(0, 3) == 2 and folds.resolve_threads(0, 16) == 1
    assert folds.resolve_threads(3, 2) == 3                       # explicit threads win


def test_actor_standardisation_uses_each_actors_own_clips():
    from models.data import standardise_sets
    rng = np.random.default_rng(0)
    offsets = {1: 10.0, 2: -5.0, 3: 40.0}                          # actor 3: a test actor
    xs = {a: rng.normal(o, 2.0, size=(20, 8, 3)).astype(np.float32) for a, o in offsets.items()}
    fit_x = np.concatenate([xs[1], xs[2]])
    fit_actors = np.array([1] * 20 + [2] * 20)
    mask = np.ones(fit_x.shape[:2], bool)
    z_fit, (z_test,), stats = standardise_sets("actor", fit_x, mask, fit_actors,
                                               [(xs[3], np.ones((20, 8), bool), np.full(20, 3))])
    assert sorted(stats) == ["actor_1", "actor_2", "actor_3"]
    assert np.isclose(stats["actor_3"].mean[0], 40.0, atol=1.0)    # from its own clips
    for z in (z_fit[:20], z_fit[20:], z_test):                     # each actor ~ N(0, 1)
        assert np.allclose(z.reshape(-1, 3).mean(0), 0, atol=1e-4)
        assert np.allclose(z.reshape(-1, 3).std(0), 1, atol=1e-3)
    z_fold, (z_test_fold,), s = standardise_sets("fold", fit_x, mask, fit_actors,
                                                 [(xs[3], np.ones((20, 8), bool), np.full(20, 3))])
    assert list(s) == ["fold"] and z_test_fold.mean() > 3         # test actor keeps its offset
    z_none, _, s = standardise_sets("none", fit_x, mask, fit_actors, [])
    assert np.array_equal(z_none, fit_x) and np.all(s["fold"].std == 1)


def test_spec_augment_masks_spans_and_mixup_mixes():
    from models.training import mixup_batch, spec_augment
    g = torch.Generator().manual_seed(0)
    x = torch.ones(64, 88, 24)
    y = spec_augment(x, g, time_masks=2, time_width=10, freq_masks=1, freq_width=4)
    zero_frames = (y == 0).all(dim=2).sum(1)                      # fully masked frames per clip
    zero_bands = (y == 0).all(dim=1).sum(1)
    assert zero_frames.max() <= 20 and zero_frames.float().mean() > 3
    assert zero_bands.max() <= 4 and zero_bands.float().mean() > 0.5
    for i in range(64):                                           # one contiguous band span
        idx = torch.nonzero((y[i] == 0).all(dim=0)).flatten()
        if len(idx):
            assert int(idx[-1] - idx[0]) + 1 == len(idx)
    assert torch.equal(spec_augment(x, g, 0, 10, 0, 4), x)
    xb = {"lms": torch.arange(4.0)[:, None, None].expand(4, 2, 3).clone()}
    mixed, perm, lam = mixup_batch(xb, torch.Generator().manual_seed(1), 0.2)
    assert 0.0 <= lam <= 1.0 and sorted(perm.tolist()) == [0, 1, 2, 3]
    assert torch.allclose(mixed["lms"], lam * xb["lms"] + (1 - lam) * xb["lms"][perm])


def test_knobs_train_end_to_end_and_seeds_average(synthetic):
    root, manifest = synthetic
    exp = resolve_experiment(_train_params(
        modalities=["lms"], epochs=6, seeds=2, standardise="actor",
        augment={"time_masks": 2, "freq_masks": 1, "mixup": 0.2}))
    train, test = fold_split(manifest, 4)
    lines: list[str] = []
    run = run_fold(exp, train, test, root, log=lines.append)
    assert [r.seed for r in run.seed_runs] == [0, 1]
    assert np.allclose(run.posteriors, (run.seed_runs[0].posteriors + run.seed_runs[1].posteriors) / 2)
    assert not np.allclose(run.seed_runs[0].posteriors, run.seed_runs[1].posteriors)
    assert set(run.standardisers["lms"]) == {f"actor_{a}" for a in range(1, 13)}
    assert any("seed 1 (2/2)" in line and "standardise actor" in line for line in lines)


def test_seeds_n_trains_the_models_of_n_single_seed_runs(synthetic):
    """train.seeds=2 from seed 0 = the runs with seed 0 and seed 1 apart (docs/audio-recipes.md,
    amendment 6: the real-audio grid scores seed ensembles from separately run seeds)."""
    root, manifest = synthetic
    train, test = fold_split(manifest, 4)
    two = run_fold(resolve_experiment(_train_params(modalities=["lms"], epochs=3, seeds=2)),
                   train, test, root, log=lambda _: None)
    one = run_fold(resolve_experiment(_train_params(modalities=["lms"], epochs=3, seed=1)),
                   train, test, root, log=lambda _: None)
    assert np.array_equal(two.seed_runs[1].posteriors, one.posteriors)


def test_train_stage_reports_the_seed_spread(synthetic, tmp_path, monkeypatch):
    from stages import train as train_stage
    root, manifest = synthetic
    _project(tmp_path, manifest, root, modalities=["lms"], epochs=3, seeds=3)
    monkeypatch.chdir(tmp_path)
    assert train_stage.main(["0"]) == 0
    info = json.loads(Path("reports/train/fold_0.json").read_text())
    seeds = info["seeds"]
    assert seeds["n"] == 3 and seeds["values"] == [0, 1, 2]
    acc = seeds["accuracy"]
    assert len(acc["per_seed"]) == 3 and acc["min"] <= acc["mean"] <= acc["max"]
    assert np.isclose(acc["std"], np.std(acc["per_seed"]), atol=1e-6)
    assert sorted(p.name for p in Path("data/models/fold_0").iterdir()) == \
        ["model.pt", "model_seed1.pt", "model_seed2.pt"]
    # the predictions are the seed-averaged posteriors of the three saved models
    preds = pd.read_parquet("data/predictions/fold_0.parquet")
    x, mask = load_feature("lms", preds["video_id"].tolist(), Path("data/features"))
    posts = []
    for name in ("model.pt", "model_seed1.pt", "model_seed2.pt"):
        model, exp, stds = load_checkpoint(f"data/models/fold_0/{name}")
        with torch.no_grad():
            posts.append(torch.softmax(model({"lms": torch.from_numpy(stds["lms"].transform(x, mask))}), 1).numpy())
    assert np.allclose(np.mean(posts, 0), preds[[f"p_{c}" for c in exp.class_names]].to_numpy(), atol=1e-5)
    assert "seeds [0, 1, 2]: accuracy" in Path("reports/train/fold_0.log").read_text()
