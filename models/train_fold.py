"""Train the params.yaml experiment on one test fold and write its outputs (the ``train`` stage).

Reads ``train`` from params.yaml (modalities, task, hyperparameters; see models/hparams.py), the
manifest (labels, folds, actors) and the features under data/features. Writes

* ``data/models/fold_K/model.pt``: ``torch.save`` of a dict holding the state dict, the resolved
  experiment, the input sizes and the standardisation statistics (load with
  ``models.folds.load_checkpoint``, which uses ``weights_only=True``);
* ``data/predictions/fold_K.parquet``: video_id, actor, fold, emotion_label, label, predicted,
  p_<class> per class;
* ``data/models/fold_K/model_seed<S>.pt``: the other seeds' models when ``train.seeds`` > 1
  (``model.pt`` is the first seed's);
* ``reports/train/fold_K.json`` (fold scores of the seed-averaged posteriors, selected epoch,
  timing, hyperparameters and their source, and ``seeds``: each seed's test accuracy / UAR /
  macro-F1 with their mean, standard deviation, min and max, the spread of the seeds around the
  averaged model; a plain cache: false output, not a DVC metric), ``reports/train/fold_K.log``
  (the training log) and
  ``reports/train/fold_K_history.csv`` (loss/accuracy per epoch, a DVC plot);
* ``reports/problems/train/fold_K.csv``: clips excluded because a feature is missing.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from features.core.atomic import atomic_path, replace_dir
from features.core.config import get
from features.core.devices import cpu_fingerprint
from features.core.manifest import read_manifest
from features.core.paths import FEATURES_DIR, MODELS_DIR, PREDICTIONS_DIR, REPORTS
from features.core.problems import ProblemLog
from models.data import fold_split
from models.folds import checkpoint, drop_missing, predictions_frame, run_fold
from models.hparams import resolve_experiment
from models.metrics import fold_scores

TRAIN_REPORTS = REPORTS / "train"
PROBLEMS = REPORTS / "problems" / "train"


def write_text(path: Path, text: str) -> None:
    with atomic_path(path, suffix=path.suffix) as tmp:
        tmp.write_text(text)


def seed_spread(exp, run, preds: pd.DataFrame) -> dict:
    """Per-seed test scores and their mean / std (population) / min / max, per score."""
    labels = preds["label"].to_numpy()
    per = [fold_scores(labels, sr.posteriors.argmax(axis=1), exp.n_classes) for sr in run.seed_runs]
    out: dict = {"n": len(per), "values": [sr.seed for sr in run.seed_runs],
                 "best_epochs": [sr.result.best_epoch for sr in run.seed_runs]}
    for key in ("accuracy", "uar", "macro_f1"):
        v = np.array([p[key] for p in per], dtype=float)
        out[key] = {"per_seed": [round(float(x), 6) for x in v], "mean": float(v.mean()),
                    "std": float(v.std()), "min": float(v.min()), "max": float(v.max())}
    return out


def train_fold(fold: int, params: dict[str, Any]) -> None:
    """Train ``train`` of ``params`` with test fold ``fold`` and write every output listed above."""
    t0 = time.perf_counter()
    exp = resolve_experiment(get(params, "train"))
    n_folds = len(get(params, "dataset.folds"))
    if not 0 <= fold < n_folds:
        raise SystemExit(f"stages.train: fold {fold} out of range 0..{n_folds - 1}")
    manifest = read_manifest()
    train_rows, test_rows = fold_split(manifest, fold)
    problems = ProblemLog("train")
    lines: list[str] = []

    def log(msg: str) -> None:
        print(f"[fold {fold}] {msg}", flush=True)
        lines.append(msg)

    kept = []
    for rows, side in ((train_rows, "train"), (test_rows, "test")):
        rows, missing = drop_missing(rows, exp.modalities, FEATURES_DIR, fold)
        for vid, path, problem in missing:
            problems.add(path, problem, f"excluded from fold {fold} {side}",
                         video_id=vid, fatal_ok=False)
        kept.append(rows)
    train_rows, test_rows = kept
    problems.write(PROBLEMS / f"fold_{fold}.csv")
    if train_rows.empty or test_rows.empty:
        side = "training" if train_rows.empty else "test"
        raise SystemExit(f"stages.train: fold {fold} has no usable {side} clip "
                         f"(see {PROBLEMS / f'fold_{fold}.csv'})")
    log(f"experiment: {json.dumps(exp.to_dict(), sort_keys=True)}")
    run = run_fold(exp, train_rows, test_rows, FEATURES_DIR, log, fold=fold)
    log(f"machine: {json.dumps(cpu_fingerprint(), sort_keys=True)}")
    preds = predictions_frame(exp, run.test_rows, run.posteriors)
    scores = fold_scores(preds["label"].to_numpy(), preds["predicted"].to_numpy(), exp.n_classes)
    log(f"test fold {fold}: accuracy {scores['accuracy']:.4f} uar {scores['uar']:.4f} "
        f"macro_f1 {scores['macro_f1']:.4f}; selected epoch {run.result.best_epoch} "
        f"({run.result.selection}); {run.seconds:.1f} s")

    model_dir = MODELS_DIR / f"fold_{fold}"
    tmp_dir = model_dir.with_name(f".{model_dir.name}.tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    for i, sr in enumerate(run.seed_runs):
        name = "model.pt" if i == 0 else f"model_seed{sr.seed}.pt"
        torch.save(checkpoint(run, {"fold": fold}, sr), tmp_dir / name)
    replace_dir(tmp_dir, model_dir)
    with atomic_path(PREDICTIONS_DIR / f"fold_{fold}.parquet", suffix=".parquet") as tmp:
        preds.to_parquet(tmp, index=False)
    history = pd.DataFrame(run.result.history)
    with atomic_path(TRAIN_REPORTS / f"fold_{fold}_history.csv", suffix=".csv") as tmp:
        history.to_csv(tmp, index=False, float_format="%.6g")
    seeds = seed_spread(exp, run, preds)
    if exp.seeds > 1:
        log(f"seeds {seeds['values']}: accuracy {seeds['accuracy']['mean']:.4f} +- "
            f"{seeds['accuracy']['std']:.4f} (min {seeds['accuracy']['min']:.4f}, max "
            f"{seeds['accuracy']['max']:.4f}); seed-averaged posteriors {scores['accuracy']:.4f}")
    summary = {
        "fold": fold, **{k: scores[k] for k in ("accuracy", "uar", "macro_f1")},
        "f1": dict(zip(exp.class_names, scores["f1"])), "confusion": scores["confusion"],
        "class_names": exp.class_names, "modalities": exp.modalities, "task": exp.task,
        "target": exp.target, "selection": run.result.selection,
        "best_epoch": run.result.best_epoch, "epochs_run": len(run.result.history),
        "stopped_early": run.result.stopped_early, "val_actors": run.val_actors,
        "train_actors": run.train_actors, "test_actors": sorted(set(preds["actor"].tolist())),
        "n_train": len(train_rows), "n_test": len(preds),
        "n_excluded": len(problems.items), "train_seconds": round(run.result.seconds, 2),
        "stage_seconds": round(time.perf_counter() - t0, 2),
        "lr": exp.lr, "batch_size": exp.batch_size, "epochs": exp.epochs, "trunks": exp.trunks,
        "sources": exp.sources, "standardise": exp.standardise, "augment": exp.augment,
        "seeds": seeds, "machine": cpu_fingerprint(),
    }
    write_text(TRAIN_REPORTS / f"fold_{fold}.json", json.dumps(summary, indent=2) + "\n")
    write_text(TRAIN_REPORTS / f"fold_{fold}.log", "\n".join(lines) + "\n")
