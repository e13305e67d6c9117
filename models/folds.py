"""One fold of an experiment end to end: load features, standardise, train, predict, save.

Used by ``stages/train.py`` (one outer fold) and ``stages/fusion.py`` (member models on outer
and inner splits). Everything here works on manifest rows (video_id, actor, fold, label) and the
feature store, so tests can drive it with synthetic feature files.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from features.core.paths import FEATURES_DIR, feature_file
from features.core.store import read_file_attrs
from features.core.ravdess import EMOTION_NAMES
from models.data import Standardiser, inner_validation_actors, load_feature, missing_clips
from models.hparams import Experiment
from models.multinet import MultiNet
from features.core.devices import resolve_device
from models.training import TrainResult, build_model, fit, predict_proba, seed_everything


def task_labels(exp: Experiment, rows: pd.DataFrame) -> np.ndarray:
    """Class index per row: the emotion label 0..7, or 1/0 for target/rest in the binary task."""
    labels = rows["label"].to_numpy(int)
    if exp.task == "binary":
        return (labels == EMOTION_NAMES.index(exp.target)).astype(int)
    return labels


def drop_missing(rows: pd.DataFrame, modalities: list[str], root: Path = FEATURES_DIR
                 ) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """Rows that have every modality, and ``(video_id, feature file, problem)`` for the others."""
    problems: dict[str, tuple[str, str]] = {}
    ids, actors = rows["video_id"].tolist(), rows["actor"].astype(int).tolist()
    for m in modalities:
        for vid, item in missing_clips(m, ids, actors, root).items():
            problems.setdefault(vid, item)
    keep = rows[~rows["video_id"].isin(problems)].reset_index(drop=True)
    return keep, sorted((vid, path, problem) for vid, (path, problem) in problems.items())


def load_inputs(modalities: list[str], rows: pd.DataFrame, root: Path = FEATURES_DIR
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Raw arrays ``{m: (n, frames, dims)}`` and masks ``{m: (n, frames)}`` in row order."""
    ids = rows["video_id"].tolist()
    xs, masks = {}, {}
    for m in modalities:
        xs[m], masks[m] = load_feature(m, ids, root)
    return xs, masks


@dataclasses.dataclass
class FoldRun:
    """A trained model with what is needed to reuse it and its test predictions."""

    exp: Experiment
    model: MultiNet
    in_dims: dict[str, int]
    standardisers: dict[str, Standardiser]
    result: TrainResult
    train_actors: list[int]
    val_actors: list[int]
    test_rows: pd.DataFrame
    posteriors: np.ndarray        # (n_test, C)
    seconds: float
    # {modality: the params its feature files were computed with (file attrs)}, so a
    # checkpoint alone says how to compute its inputs for new recordings (stages/predict.py).
    feature_params: dict[str, Any] = dataclasses.field(default_factory=dict)


def feature_params(modalities: list[str], actors: list[int], root: Path = FEATURES_DIR
                   ) -> dict[str, Any]:
    """``{modality: params}`` recorded in the feature files (first actor's file that exists)."""
    out: dict[str, Any] = {}
    for m in modalities:
        for actor in sorted(set(int(a) for a in actors)):
            path = feature_file(m, actor, Path(root))
            if path.exists():
                out[m] = read_file_attrs(path).get("params", {})
                break
    return out


def run_fold(exp: Experiment, train_rows: pd.DataFrame, test_rows: pd.DataFrame,
             root: Path = FEATURES_DIR, log: Callable[[str], None] = print) -> FoldRun:
    """Train on ``train_rows`` (optionally minus an inner validation split) and predict ``test_rows``.

    Standardisation statistics come from the training rows only (the inner validation actors
    are excluded from them as well when ``selection`` is ``val_loss``).
    """
    t0 = time.perf_counter()
    shared = set(train_rows["actor"]) & set(test_rows["actor"])
    if shared:
        raise ValueError(f"actors {sorted(shared)} are in both the training and the test rows")
    val_actors: list[int] = []
    if exp.selection == "val_loss":
        val_actors = inner_validation_actors(sorted(set(train_rows["actor"].astype(int))),
                                             exp.val_actors, exp.seed)
    is_val = train_rows["actor"].astype(int).isin(val_actors).to_numpy()
    fit_rows, val_rows = train_rows[~is_val].reset_index(drop=True), train_rows[is_val].reset_index(drop=True)
    raw_fit, mask_fit = load_inputs(exp.modalities, fit_rows, root)
    raw_test, mask_test = load_inputs(exp.modalities, test_rows, root)
    stds = {m: Standardiser.fit(raw_fit[m], mask_fit[m]) for m in exp.modalities}
    x_fit = {m: stds[m].transform(raw_fit[m], mask_fit[m]) for m in exp.modalities}
    x_test = {m: stds[m].transform(raw_test[m], mask_test[m]) for m in exp.modalities}
    val = None
    if len(val_rows):
        raw_val, mask_val = load_inputs(exp.modalities, val_rows, root)
        val = ({m: stds[m].transform(raw_val[m], mask_val[m]) for m in exp.modalities},
               task_labels(exp, val_rows))
    in_dims = {m: int(x_fit[m].shape[-1]) for m in exp.modalities}
    threads = torch.get_num_threads()
    if exp.threads > 0:
        torch.set_num_threads(exp.threads)
    try:
        seed_everything(exp.seed)
        device = resolve_device(exp.device)
        model = build_model(exp, in_dims)
        log(f"training {'+'.join(exp.modalities)} ({exp.task}) on {len(fit_rows)} clips "
            f"({len(set(fit_rows['actor']))} actors), validation {len(val_rows)}, test "
            f"{len(test_rows)}; device {device}, {torch.get_num_threads()} CPU threads; "
            f"{sum(p.numel() for p in model.parameters())} parameters")
        result = fit(model, exp, x_fit, task_labels(exp, fit_rows), val, device, log)
        post = predict_proba(model, x_test, device=device) if len(test_rows) else \
            np.zeros((0, exp.n_classes))
    finally:
        torch.set_num_threads(threads)
    model.cpu()
    return FoldRun(exp, model, in_dims, stds, result,
                   sorted(set(fit_rows["actor"].astype(int))), val_actors, test_rows, post,
                   time.perf_counter() - t0,
                   feature_params(exp.modalities, fit_rows["actor"].tolist(), root))


def predictions_frame(exp: Experiment, rows: pd.DataFrame, posteriors: np.ndarray) -> pd.DataFrame:
    """video_id, actor, fold, emotion_label, label (task class), predicted, p_<class> per class."""
    df = pd.DataFrame({
        "video_id": rows["video_id"].astype(str).to_numpy(),
        "actor": rows["actor"].astype(int).to_numpy(),
        "fold": rows["fold"].astype(int).to_numpy(),
        "emotion_label": rows["label"].astype(int).to_numpy(),
        "label": task_labels(exp, rows),
        "predicted": posteriors.argmax(axis=1).astype(int) if len(posteriors) else
        np.zeros(0, int),
    })
    for i, name in enumerate(exp.class_names):
        df[f"p_{name}"] = posteriors[:, i] if len(posteriors) else np.zeros(0)
    return df


def checkpoint(run: FoldRun, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``torch.load(weights_only=True)``-safe dict: state dict, config, standardisers."""
    return {
        "format": "hmd-emotion/multinet-v1",
        "state_dict": run.result.state_dict,
        "experiment": run.exp.to_dict(),
        "in_dims": dict(run.in_dims),
        "standardisers": {m: {"mean": torch.from_numpy(s.mean.copy()),
                              "std": torch.from_numpy(s.std.copy())}
                          for m, s in run.standardisers.items()},
        "best_epoch": run.result.best_epoch,
        "selection": run.result.selection,
        "train_actors": list(run.train_actors),
        "val_actors": list(run.val_actors),
        "features": run.feature_params,
        **(extra or {}),
    }


def load_checkpoint(path: str | Path) -> tuple[MultiNet, Experiment, dict[str, Standardiser]]:
    """Rebuild the model (eval mode), the experiment and the standardisers from ``model.pt``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("format") != "hmd-emotion/multinet-v1":
        raise ValueError(f"{path}: not a Multi-Net checkpoint (format {ckpt.get('format')!r})")
    exp = Experiment.from_dict(ckpt["experiment"])
    model = build_model(exp, ckpt["in_dims"])
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    stds = {m: Standardiser(v["mean"].numpy(), v["std"].numpy())
            for m, v in ckpt["standardisers"].items()}
    return model, exp, stds
