"""The fold ensemble of predict: stacked (vmapped) models give the looped average."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from models.data import Standardiser
from models.hparams import resolve_experiment
from models.predict import Ensemble, FoldModel
from models.training import build_model, predict_proba

DIMS = {"lms": 6, "kpd_face": 10}


def _fold_models(n: int, filters: list[int]) -> list[FoldModel]:
    rng = np.random.default_rng(0)
    models = []
    for k in range(n):
        exp = resolve_experiment({"modalities": ["lms", "kpd_face"], "filters": filters[k],
                                  "scales": 3, "layers": 2, "epochs": 1, "lr": 1e-3,
                                  "batch_size": 4, "bn_momentum": 0.1})
        torch.manual_seed(k)
        model = build_model(exp, DIMS).eval()
        for mod in model.modules():      # non-trivial running statistics, different per fold
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
        stds = {m: Standardiser(rng.normal(size=d).astype(np.float32),
                                rng.uniform(0.5, 2.0, size=d).astype(np.float32))
                for m, d in DIMS.items()}
        models.append(FoldModel(str(k), Path(f"fold_{k}/model.pt"), model, exp, stds, {}, "test"))
    return models


def _inputs(n: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    raw = {m: rng.normal(size=(n, 88, d)).astype(np.float32) for m, d in DIMS.items()}
    raw["kpd_face"][0, 5:9] = np.nan                       # an untracked stretch
    masks = {m: np.ones((n, 88), bool) for m in DIMS}
    masks["kpd_face"][1, :20] = False
    return raw, masks


def _looped(models: list[FoldModel], raw, masks) -> np.ndarray:
    return sum(predict_proba(fm.model, {m: fm.standardisers[m].transform(raw[m], masks[m])
                                        for m in fm.modalities}) for fm in models) / len(models)


def test_stacked_folds_give_the_looped_average():
    models = _fold_models(5, [8] * 5)
    raw, masks = _inputs(3)
    ens = Ensemble(models)
    assert ens.stacked
    got = ens.posteriors(raw, masks)
    want = _looped(models, raw, masks)
    assert got.shape == (3, 8) and np.allclose(got.sum(axis=1), 1.0)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # the folds really differ: each alone gives other posteriors than the average
    assert all(np.abs(_looped([fm], raw, masks) - want).max() > 1e-3 for fm in models)


def test_batches_larger_than_the_chunk_and_one_model():
    models = _fold_models(2, [8, 8])
    raw, masks = _inputs(5)
    np.testing.assert_allclose(Ensemble(models).posteriors(raw, masks, batch=2),
                               _looped(models, raw, masks), atol=1e-6)
    one = Ensemble(models[:1])
    assert not one.stacked
    np.testing.assert_allclose(one.posteriors(raw, masks), _looped(models[:1], raw, masks),
                               atol=1e-7)


def test_models_of_different_sizes_are_looped():
    models = _fold_models(3, [8, 8, 12])
    raw, masks = _inputs(2)
    ens = Ensemble(models)
    assert not ens.stacked
    np.testing.assert_allclose(ens.posteriors(raw, masks), _looped(models, raw, masks), atol=1e-7)
