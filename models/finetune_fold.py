"""Fine-tune ResNet-18 on one (part, test fold) and write its outputs (the ``finetune`` stage).

:func:`train_fold` fine-tunes ResNet-18 (``features.resnet.checkpoint``) end to end with a TIM-Net
head on the 20 equally spaced frames' crops (``data/features/crops_spaced_<part>``) of the
training clips of test fold K (the pure training loop is :mod:`models.finetune`; hyperparameters
from ``finetune``, ``null`` = Table C.1), then predicts fold K's test clips. Writes

* ``data/finetune/<part>/fold_K/extractor/``: the selected epoch's ResNet (``save_pretrained``:
  ``config.json``, ``model.safetensors``) plus the checkpoint's ``preprocessor_config.json``,
  so :func:`features.learnt.resnet.load_resnet` loads it like any checkpoint;
  ``data/finetune/<part>/fold_K/head.pt``: the TIM-Net head's state dict, the resolved
  experiment, the training and test actors, the selected epoch (``torch.load(weights_only=True)``);
* ``data/finetune/<part>/predictions/fold_K.parquet``: the papers' unimodal "ResNet" row for
  this fold, in the format of ``stages/train.py``'s ``data/predictions/fold_K.parquet``:
  ``video_id, actor, fold, emotion_label, label, predicted, p_<class>`` per class;
* ``reports/finetune/<part>/fold_K.json`` (scores, selected epoch, timing, settings),
  ``fold_K_history.csv`` (loss/accuracy per epoch), ``fold_K.log`` (the training log) and
  ``reports/problems/finetune/<part>/fold_K.csv`` (clips without stored crops, excluded).

Why a module of its own, apart from :mod:`models.finetune`: that module is the pure network and
training loop (arrays in, weights out, no files); this one is the stage's file I/O around it
(manifest, fold split, stored crops, atomic outputs, reports), as :mod:`models.train_fold` is for
the ``train`` stage. The fine-tuned models' layout (:func:`features.learnt.finetuned.fold_dir`) is
shared with the frozen per-fold extractor of :mod:`features.learnt.finetuned`.
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
from tqdm.auto import tqdm

from features.core.atomic import atomic_path, replace_dir
from features.core.config import get
from features.core.devices import resolve_device
from features.core.manifest import read_manifest
from features.core.paths import REPORTS, feature_file
from features.core.problems import ProblemLog
from features.core.ravdess import EMOTION_NAMES
from features.core.store import StoreError, list_ids, read_record
from features.learnt.checkpoints import resolve_checkpoint
from features.learnt.finetuned import FINETUNE_DIR, fold_dir
from features.learnt.resnet import image_normalisation, load_resnet
from models.data import fold_split
from models.finetune import FineTuneNet, Normalisation, build_finetune_net, fit_finetune, predict_finetune
from models.folds import predictions_frame
from models.hparams import resolve_experiment
from models.metrics import fold_scores
from models.training import seed_everything

REPORT_DIR = REPORTS / "finetune"
# finetune keys handed to models.hparams.resolve_experiment (null = Table C.1 / its defaults)
EXPERIMENT_KEYS = ("task", "target", "lr", "batch_size", "epochs", "filters", "scales", "layers",
                   "kernel_size", "dropout", "label_smoothing", "selection", "bn_momentum",
                   "bn_eps", "seed", "device", "threads")

Clips = tuple[pd.DataFrame, list[np.ndarray]]


def load_stored_crops(name: str, rows: pd.DataFrame, problems: ProblemLog, side: str) -> Clips:
    """Stored (encoded) crops of ``rows`` from ``data/features/<name>``; missing clips reported."""
    keep, clips = [], []
    for actor, group in rows.groupby(rows["actor"].astype(int), sort=True):
        path = feature_file(name, actor)
        try:
            have = set(list_ids(path))
        except StoreError as exc:
            for vid in group["video_id"]:
                problems.add(path, str(exc), f"excluded from {side}", vid, fatal_ok=False)
            continue
        for pos, vid in zip(group.index, group["video_id"]):
            if vid not in have:
                problems.add(path, f"{name}: no entry for this clip", f"excluded from {side}", vid,
                             fatal_ok=False)
                continue
            keep.append(pos)
            clips.append(read_record(path, vid).data)
    order = np.argsort(keep, kind="stable")
    return rows.loc[[keep[i] for i in order]].reset_index(drop=True), [clips[i] for i in order]


def load_fold_crops(part: str, fold: int) -> tuple[Clips, Clips, ProblemLog]:
    """Fold ``fold``'s training and test clips with their spaced crops; writes the problems report.

    Stops (``SystemExit``) when either side has no usable clip left.
    """
    train_rows, test_rows = fold_split(read_manifest(), fold)
    problems = ProblemLog(f"finetune/{part}")
    crops = f"crops_spaced_{part}"
    train = load_stored_crops(crops, train_rows, problems, f"fold {fold} training")
    test = load_stored_crops(crops, test_rows, problems, f"fold {fold} test")
    problems_path = REPORTS / "problems" / "finetune" / part / f"fold_{fold}.csv"
    problems.write(problems_path)
    if train[0].empty or test[0].empty:
        raise SystemExit(f"stages.finetune: fold {fold} has no usable "
                         f"{'training' if train[0].empty else 'test'} clip (see {problems_path})")
    return train, test, problems


def write_model(part: str, fold: int, net: FineTuneNet, checkpoint: Path, head: dict[str, Any]) -> None:
    """``data/finetune/<part>/fold_K/``: ``extractor/`` (net's ResNet + the checkpoint's
    ``preprocessor_config.json``) and ``head.pt`` (``head``), replaced as a whole."""
    out = fold_dir(part, fold)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "extractor").mkdir(parents=True)
    net.resnet.cpu().save_pretrained(tmp / "extractor")
    if (checkpoint / "preprocessor_config.json").is_file():
        shutil.copyfile(checkpoint / "preprocessor_config.json", tmp / "extractor" / "preprocessor_config.json")
    torch.save(head, tmp / "head.pt")
    replace_dir(tmp, out)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path, suffix=path.suffix) as tmp:
        tmp.write_text(text)


def train_fold(part: str, fold: int, params: dict[str, Any]) -> None:
    """Fine-tune ``part``'s ResNet on test fold ``fold`` and write every output listed above."""
    t0 = time.perf_counter()
    cfg, rcfg = dict(get(params, "finetune")), dict(get(params, "features.resnet"))
    exp = resolve_experiment({"modalities": [f"resnet_{part}"],
                              **{k: cfg.get(k) for k in EXPERIMENT_KEYS if k in cfg}})
    folder = resolve_checkpoint(str(rcfg["checkpoint"]), "features.resnet.checkpoint",
                                f"resnet_{part}", "enabled.finetune: []")
    (train_rows, train_clips), (test_rows, test_clips), problems = load_fold_crops(part, fold)
    threads = torch.get_num_threads()
    if exp.threads > 0:
        torch.set_num_threads(exp.threads)
    device = resolve_device(exp.device)
    lines: list[str] = []

    def log(msg: str) -> None:
        print(f"[finetune {part} fold {fold}] {msg}", flush=True)
        lines.append(msg)

    mean, std, rescale, fallback = image_normalisation(folder)
    norm = Normalisation(mean, std, rescale, int(rcfg.get("size", 224)),
                         rcfg.get("interpolation", "bilinear"))
    seed_everything(exp.seed)          # the head's initial weights follow finetune.seed
    net = build_finetune_net(load_resnet(folder, "cpu"), exp, part, rcfg.get("eyes", "average"),
                             cfg["batch_norm"], int(cfg.get("frozen_stages", 0)))
    labels = train_rows["label"].to_numpy(int)
    if exp.task == "binary":
        labels = (labels == EMOTION_NAMES.index(exp.target)).astype(int)
    log(f"{len(train_rows)} training clips ({train_rows['actor'].nunique()} actors), "
        f"{len(test_rows)} test; device {device}, {torch.get_num_threads()} CPU threads; "
        f"{sum(p.numel() for p in net.parameters() if p.requires_grad)} trainable parameters; "
        f"experiment {json.dumps(exp.to_dict(), sort_keys=True)}")
    bar = tqdm(total=None, desc=f"finetune {part} fold {fold}", unit="batch")

    def progress(step: int, total: int) -> None:
        bar.total = total
        bar.update(step - bar.n)

    try:
        result = fit_finetune(net, exp, train_clips, labels, norm, device, cfg["augmentation"],
                              cfg["precision"], log, progress)
        post = predict_finetune(net, test_clips, norm, device, exp.batch_size, cfg["precision"])
    finally:
        bar.close()
        torch.set_num_threads(threads)
    preds = predictions_frame(exp, test_rows, post)
    scores = fold_scores(preds["label"].to_numpy(), preds["predicted"].to_numpy(), exp.n_classes)
    log(f"test fold {fold}: accuracy {scores['accuracy']:.4f} uar {scores['uar']:.4f} macro_f1 "
        f"{scores['macro_f1']:.4f}; selected epoch {result.best_epoch}; {result.seconds:.1f} s")

    train_actors = sorted(int(a) for a in set(train_rows["actor"]))
    test_actors = sorted(int(a) for a in set(test_rows["actor"]))
    write_model(part, fold, net, folder, {
        "format": "hmd-emotion/finetune-v1", "part": part, "fold": fold,
        "head_state": result.head_state, "experiment": exp.to_dict(),
        "train_actors": train_actors, "test_actors": test_actors,
        "best_epoch": result.best_epoch, "settings": cfg,
        "resnet": {k: rcfg.get(k) for k in ("checkpoint", "eyes", "size", "interpolation")}})
    with atomic_path(FINETUNE_DIR / part / "predictions" / f"fold_{fold}.parquet", suffix=".parquet") as p:
        preds.to_parquet(p, index=False)
    reports = REPORT_DIR / part
    with atomic_path(reports / f"fold_{fold}_history.csv", suffix=".csv") as p:
        pd.DataFrame(result.history).to_csv(p, index=False, float_format="%.6g")
    epochs = [h["seconds"] for h in result.history]
    summary = {
        "part": part, "fold": fold, **{k: scores[k] for k in ("accuracy", "uar", "macro_f1")},
        "f1": dict(zip(exp.class_names, scores["f1"])), "confusion": scores["confusion"],
        "class_names": exp.class_names, "task": exp.task, "target": exp.target,
        "best_epoch": result.best_epoch, "epochs_run": len(result.history),
        "n_train": len(train_rows), "n_test": len(test_rows), "n_excluded": len(problems.items),
        "train_actors": train_actors, "test_actors": test_actors, "device": str(device),
        "seconds_per_epoch": round(float(np.mean(epochs)), 2) if epochs else None,
        "train_seconds": round(result.seconds, 2), "stage_seconds": round(time.perf_counter() - t0, 2),
        "lr": exp.lr, "batch_size": exp.batch_size, "epochs": exp.epochs, "trunk": exp.trunks,
        "sources": exp.sources, "settings": cfg, "checkpoint_fallback_normalisation": fallback,
    }
    write_text(reports / f"fold_{fold}.json", json.dumps(summary, indent=2, default=str) + "\n")
    write_text(reports / f"fold_{fold}.log", "\n".join(lines) + "\n")
