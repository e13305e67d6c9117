"""One fold of an experiment end to end: load features, standardise, train, predict, save.

Used by ``stages/train.py`` (one outer fold) and ``stages/fusion.py`` (member models on outer
and inner splits). Everything here works on manifest rows (video_id, actor, fold, label) and the
feature store, so tests can drive it with synthetic feature files.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from features.core.devices import resolve_device
from features.core.paths import FEATURES_DIR, feature_file
from features.core.ravdess import EMOTION_NAMES
from features.core.store import read_file_attrs
from models.data import Standardiser, inner_validation_actors, load_feature, missing_clips, standardise_sets
from models.hparams import Experiment
from models.multinet import MultiNet
from models.training import TrainResult, build_model, fit, predict_proba, seed_everything


def available_cores() -> int:
    """CPU cores this process may use (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                      # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_threads(threads: int, jobs: int = 1) -> int:
    """Torch CPU threads: ``threads`` when > 0, else ``cores // jobs`` (at least 1).

    ``jobs`` is how many trainings run at the same time (``train.jobs``, set it to the ``-j``
    of ``dvc exp run --run-all -j N``), so N queued experiments share the cores instead of each
    starting one thread per core.
    """
    if threads > 0:
        return int(threads)
    return max(1, available_cores() // max(1, int(jobs)))


def task_labels(exp: Experiment, rows: pd.DataFrame) -> np.ndarray:
    """Class index per row: the emotion label 0..7, or 1/0 for target/rest in the binary task."""
    labels = rows["label"].to_numpy(int)
    if exp.task == "binary":
        return (labels == EMOTION_NAMES.index(exp.target)).astype(int)
    return labels


def drop_missing(rows: pd.DataFrame, modalities: list[str], root: Path = FEATURES_DIR,
                 fold: int | None = None) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """Rows that have every modality, and ``(video_id, feature file, problem)`` for the others."""
    problems: dict[str, tuple[str, str]] = {}
    ids, actors = rows["video_id"].tolist(), rows["actor"].astype(int).tolist()
    for m in modalities:
        for vid, item in missing_clips(m, ids, actors, root, fold).items():
            problems.setdefault(vid, item)
    keep = rows[~rows["video_id"].isin(problems)].reset_index(drop=True)
    return keep, sorted((vid, path, problem) for vid, (path, problem) in problems.items())


def load_inputs(modalities: list[str], rows: pd.DataFrame, root: Path = FEATURES_DIR,
                fold: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Raw arrays ``{m: (n, frames, dims)}`` and masks ``{m: (n, frames)}`` in row order
    (``fold``: the test fold, for per-fold features, see models.data.stored_feature)."""
    ids = rows["video_id"].tolist()
    xs, masks = {}, {}
    for m in modalities:
        xs[m], masks[m] = load_feature(m, ids, root, fold)
    return xs, masks


@dataclasses.dataclass
class SeedRun:
    """One seed's model of a fold and its test posteriors."""

    seed: int
    model: MultiNet
    result: TrainResult
    posteriors: np.ndarray        # (n_test, C)


@dataclasses.dataclass
class FoldRun:
    """Trained model(s) with what is needed to reuse them, and the test predictions.

    ``model``/``result`` are the first seed's; ``posteriors`` is the mean over ``seed_runs``
    (one entry per seed, ``exp.seeds`` of them).
    """

    exp: Experiment
    model: MultiNet
    in_dims: dict[str, int]
    standardisers: dict[str, dict[str, Standardiser]]   # modality -> {"fold" | "actor_<A>": stats}
    result: TrainResult
    train_actors: list[int]
    val_actors: list[int]
    test_rows: pd.DataFrame
    posteriors: np.ndarray        # (n_test, C), mean over seeds
    seconds: float
    seed_runs: list[SeedRun] = dataclasses.field(default_factory=list)
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
             root: Path = FEATURES_DIR, log: Callable[[str], None] = print,
             fold: int | None = None) -> FoldRun:
    """Train on ``train_rows`` (optionally minus an inner validation split) and predict ``test_rows``.

    Standardisation follows ``exp.standardise`` (models.data): ``fold`` statistics come from the
    training rows only (the inner validation actors are excluded as well when ``selection`` is
    ``val_loss``); ``actor`` uses each actor's own clips. With ``exp.seeds`` = N > 1, N models
    (seeds ``exp.seed .. exp.seed + N - 1``) are trained on the same data and their test
    posteriors averaged.
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
    raw_fit, mask_fit = load_inputs(exp.modalities, fit_rows, root, fold)
    raw_test, mask_test = load_inputs(exp.modalities, test_rows, root, fold)
    raw_val, mask_val = load_inputs(exp.modalities, val_rows, root, fold) if len(val_rows) else ({}, {})
    actors = {k: r["actor"].astype(int).to_numpy() for k, r in
              (("fit", fit_rows), ("test", test_rows), ("val", val_rows))}
    x_fit, x_test, x_val, stds = {}, {}, {}, {}
    for m in exp.modalities:
        others = [(raw_test[m], mask_test[m], actors["test"])]
        if len(val_rows):
            others.append((raw_val[m], mask_val[m], actors["val"]))
        x_fit[m], done, stds[m] = standardise_sets(exp.standardise, raw_fit[m], mask_fit[m],
                                                   actors["fit"], others)
        x_test[m] = done[0]
        if len(val_rows):
            x_val[m] = done[1]
    val = (x_val, task_labels(exp, val_rows)) if len(val_rows) else None
    in_dims = {m: int(x_fit[m].shape[-1]) for m in exp.modalities}
    threads = torch.get_num_threads()
    torch.set_num_threads(resolve_threads(exp.threads, exp.jobs))
    seed_runs: list[SeedRun] = []
    try:
        device = resolve_device(exp.device)
        for i in range(exp.seeds):
            seed = exp.seed + i
            sexp = dataclasses.replace(exp, seed=seed)
            seed_everything(seed)
            model = build_model(sexp, in_dims)
            log(f"training {'+'.join(exp.modalities)} ({exp.task}) seed {seed} ({i + 1}/"
                f"{exp.seeds}) on {len(fit_rows)} clips ({len(set(fit_rows['actor']))} actors), "
                f"validation {len(val_rows)}, test {len(test_rows)}; standardise "
                f"{exp.standardise}; device {device}, {torch.get_num_threads()} CPU threads; "
                f"{sum(p.numel() for p in model.parameters())} parameters")
            result = fit(model, sexp, x_fit, task_labels(exp, fit_rows), val, device, log)
            post = predict_proba(model, x_test, device=device) if len(test_rows) else \
                np.zeros((0, exp.n_classes))
            model.cpu()
            seed_runs.append(SeedRun(seed, model, result, post))
    finally:
        torch.set_num_threads(threads)
    posteriors = np.mean([r.posteriors for r in seed_runs], axis=0)
    first = seed_runs[0]
    return FoldRun(exp, first.model, in_dims, stds, first.result,
                   sorted(set(fit_rows["actor"].astype(int))), val_actors, test_rows, posteriors,
                   time.perf_counter() - t0, seed_runs,
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


def checkpoint(run: FoldRun, extra: dict[str, Any] | None = None,
               seed_run: SeedRun | None = None) -> dict[str, Any]:
    """A ``torch.load(weights_only=True)``-safe dict: state dict, config, standardisers.

    ``seed_run`` selects one seed's model (default: the first). ``standardisers`` maps each
    modality to ``{"fold": {mean, std}}`` (fold / none) or ``{"actor_<A>": {mean, std}}`` per
    actor (``standardise: actor``; a new actor needs its own statistics first).
    """
    sr = seed_run or (run.seed_runs[0] if run.seed_runs else None)
    result = sr.result if sr is not None else run.result
    exp = dataclasses.replace(run.exp, seed=sr.seed) if sr is not None else run.exp
    return {
        "format": "hmd-emotion/multinet-v1",
        "state_dict": result.state_dict,
        "experiment": exp.to_dict(),
        "in_dims": dict(run.in_dims),
        "standardise": run.exp.standardise,
        "standardisers": {m: {k: {"mean": torch.from_numpy(s.mean.copy()),
                                  "std": torch.from_numpy(s.std.copy())}
                              for k, s in per.items()}
                          for m, per in run.standardisers.items()},
        "best_epoch": result.best_epoch,
        "selection": result.selection,
        "train_actors": list(run.train_actors),
        "val_actors": list(run.val_actors),
        "features": run.feature_params,
        **(extra or {}),
    }


def load_checkpoint(path: str | Path) -> tuple[MultiNet, Experiment, dict[str, Any]]:
    """Rebuild the model (eval mode), the experiment and the standardisers from ``model.pt``.

    The third item maps each modality to a :class:`Standardiser` (``standardise`` fold or none)
    or to ``{actor: Standardiser}`` (``standardise: actor``).
    """
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
    stds: dict[str, Any] = {}
    for m, per in ckpt["standardisers"].items():
        if "mean" in per:                                  # checkpoints written before seeds/actor
            stds[m] = Standardiser(per["mean"].numpy(), per["std"].numpy())
        elif "fold" in per:
            stds[m] = Standardiser(per["fold"]["mean"].numpy(), per["fold"]["std"].numpy())
        else:
            stds[m] = {int(k.split("_", 1)[1]): Standardiser(v["mean"].numpy(), v["std"].numpy())
                       for k, v in per.items()}
    return model, exp, stds
