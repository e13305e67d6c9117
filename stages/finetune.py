"""Stage finetune: ResNet-18 fine-tuned per (part, fold), then its frozen per-fold features.

``python -m stages.finetune train <face|eyes|mouth> K`` fine-tunes ResNet-18
(``features.resnet.checkpoint``) end to end with a TIM-Net head on the 20 equally spaced frames'
crops (``data/features/crops_spaced_<part>``) of the training clips of test fold K
(:mod:`models.finetune`; hyperparameters from ``finetune``, ``null`` = Table C.1), then predicts
fold K's test clips. Writes

* ``data/finetune/<part>/fold_K/extractor/``: the selected epoch's ResNet (``save_pretrained``:
  ``config.json``, ``model.safetensors``) plus the checkpoint's ``preprocessor_config.json``,
  so :func:`features.learnt.resnet.load_resnet` loads it like any checkpoint;
  ``data/finetune/<part>/fold_K/head.pt``: the TIM-Net head's state dict, the resolved
  experiment, the training and test actors, the selected epoch (``torch.load(weights_only=True)``);
* ``data/finetune/<part>/predictions/fold_K.parquet``: the papers' unimodal "ResNet" row for
  this fold, in the format of ``stages/train.py``'s ``data/predictions/fold_K.parquet``:
  ``video_id, actor, fold, emotion_label, label, predicted, p_<class>`` per class;
* ``reports/finetune/<part>/fold_K.json`` (scores, selected epoch, timing, settings),
  ``fold_K_history.csv`` (loss/accuracy per epoch) and ``reports/problems/finetune/<part>/fold_K.csv``.

``python -m stages.finetune features <part> K`` runs fold K's fine-tuned extractor, frozen, on
the 88 middle frames' crops (``data/features/crops_<part>``) of **every** clip and writes the
per-fold feature ``data/features/resnet_<part>_ft/fold_K/Actor_XX.h5`` (``(88, 512)`` per clip,
``features.resnet`` eyes/size/interpolation/dtype). Each record's ``source`` and the files'
``params`` name the extractor (fold, sha256 of its weights, training actors): Multi-Net on
test fold K reads ``resnet_<part>_ft`` from ``fold_K`` only (:func:`models.data.stored_feature`),
so a test clip's vector always comes from the model that did not train on its actor.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from features.core.atomic import atomic_path, replace_dir
from features.core.config import get, load_params
from features.core.devices import resolve_device
from features.core.hashing import sha256_file
from features.core.manifest import read_manifest
from features.core.paths import DATA, FEATURES_DIR, REPORTS, actor_dir, feature_file
from features.core.problems import ProblemLog
from features.core.store import FeatureRecord, StoreError, list_ids, read_record, write_feature_file
from features.learnt.checkpoints import resolve_checkpoint
from features.learnt.resnet import clip_vectors, image_normalisation, load_resnet
from features.visual.crops import decode_crops
from models.data import fold_split
from models.finetune import (
    Normalisation,
    build_finetune_net,
    fit_finetune,
    predict_finetune,
)
from models.folds import predictions_frame
from models.hparams import resolve_experiment
from models.metrics import fold_scores

PARTS = ("face", "eyes", "mouth")
FINETUNE_DIR = DATA / "finetune"                 # <part>/fold_K/{extractor/, head.pt}
REPORT_DIR = REPORTS / "finetune"
# finetune keys handed to models.hparams.resolve_experiment (null = Table C.1 / its defaults)
EXPERIMENT_KEYS = ("task", "target", "lr", "batch_size", "epochs", "filters", "scales", "layers",
                   "kernel_size", "dropout", "label_smoothing", "selection", "bn_momentum",
                   "bn_eps", "seed", "device", "threads")


def fold_dir(part: str, fold: int) -> Path:
    return FINETUNE_DIR / part / f"fold_{fold}"


def feature_name(part: str) -> str:
    """The per-fold feature of a part: ``resnet_<part>_ft``."""
    return f"resnet_{part}_ft"


def settings(params: dict[str, Any]) -> dict[str, Any]:
    """The ``finetune`` section (checked by the params schema)."""
    return dict(get(params, "finetune"))


def resnet_settings(params: dict[str, Any]) -> dict[str, Any]:
    return dict(get(params, "features.resnet"))


def load_stored_crops(name: str, rows: pd.DataFrame, problems: ProblemLog, side: str
                      ) -> tuple[pd.DataFrame, list[np.ndarray]]:
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


def write_text(path: Path, text: str) -> None:
    with atomic_path(path, suffix=path.suffix) as tmp:
        tmp.write_text(text)


def train(part: str, fold: int, params: dict[str, Any]) -> int:
    t0 = time.perf_counter()
    cfg, rcfg = settings(params), resnet_settings(params)
    exp = resolve_experiment({"modalities": [f"resnet_{part}"],
                              **{k: cfg.get(k) for k in EXPERIMENT_KEYS if k in cfg}})
    folder = resolve_checkpoint(str(rcfg["checkpoint"]), "features.resnet.checkpoint",
                                f"resnet_{part}", "enabled.finetune: []")
    train_rows, test_rows = fold_split(read_manifest(), fold)
    problems = ProblemLog(f"finetune/{part}")
    crops = f"crops_spaced_{part}"
    train_rows, train_clips = load_stored_crops(crops, train_rows, problems, f"fold {fold} training")
    test_rows, test_clips = load_stored_crops(crops, test_rows, problems, f"fold {fold} test")
    problems_path = REPORTS / "problems" / "finetune" / part / f"fold_{fold}.csv"
    problems.write(problems_path)
    if train_rows.empty or test_rows.empty:
        raise SystemExit(f"stages.finetune: fold {fold} has no usable "
                         f"{'training' if train_rows.empty else 'test'} clip (see {problems_path})")
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
    net = build_finetune_net(load_resnet(folder, "cpu"), exp, part, rcfg.get("eyes", "average"),
                             cfg["batch_norm"], int(cfg.get("frozen_stages", 0)))
    labels = train_rows["label"].to_numpy(int)
    if exp.task == "binary":
        from features.core.ravdess import EMOTION_NAMES
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

    out = fold_dir(part, fold)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "extractor").mkdir(parents=True)
    net.resnet.cpu().save_pretrained(tmp / "extractor")
    if (folder / "preprocessor_config.json").is_file():
        shutil.copyfile(folder / "preprocessor_config.json", tmp / "extractor" / "preprocessor_config.json")
    train_actors = sorted(int(a) for a in set(train_rows["actor"]))
    test_actors = sorted(int(a) for a in set(test_rows["actor"]))
    torch.save({"format": "hmd-emotion/finetune-v1", "part": part, "fold": fold,
                "head_state": result.head_state, "experiment": exp.to_dict(),
                "train_actors": train_actors, "test_actors": test_actors,
                "best_epoch": result.best_epoch, "settings": cfg,
                "resnet": {k: rcfg.get(k) for k in ("checkpoint", "eyes", "size", "interpolation")}},
               tmp / "head.pt")
    replace_dir(tmp, out)
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
    return 0


def extractor_provenance(part: str, fold: int) -> dict[str, Any]:
    """Fold, training/test actors and weights sha256 of fold ``fold``'s fine-tuned extractor."""
    out = fold_dir(part, fold)
    head = out / "head.pt"
    if not head.is_file():
        raise FileNotFoundError(f"{head}: fine-tuned model not found (run `dvc repro "
                                f"finetune@{part}-{fold}` first)")
    meta = torch.load(head, map_location="cpu", weights_only=True)
    weights = out / "extractor" / "model.safetensors"
    return {"fold": int(meta["fold"]), "part": part, "train_actors": list(meta["train_actors"]),
            "test_actors": list(meta["test_actors"]), "extractor": str(out / "extractor"),
            "extractor_sha256": sha256_file(weights)}


def features(part: str, fold: int, params: dict[str, Any]) -> int:
    t0 = time.perf_counter()
    rcfg = resnet_settings(params)
    cfg = settings(params)
    prov = extractor_provenance(part, fold)
    dtype = np.dtype(rcfg.get("dtype", "float16"))
    threads = torch.get_num_threads()
    if int(cfg.get("threads", 0)) > 0:
        torch.set_num_threads(int(cfg["threads"]))
    device = resolve_device(cfg.get("device", "auto"))
    model = load_resnet(prov["extractor"], device)
    mean, std, rescale, _ = image_normalisation(prov["extractor"])
    manifest = read_manifest()
    name = feature_name(part)
    out_dir = FEATURES_DIR / name / f"fold_{fold}"
    tmp_dir = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    problems = ProblemLog(f"{name}/fold_{fold}", fail=get(params, "dataset.on_error", "skip") == "fail")
    tag = f"extractor:finetune/{part}/fold_{fold}:sha256:{prov['extractor_sha256']}"
    file_params = {"features": {"resnet": rcfg}, "finetune": cfg, "extractor": prov}
    n_clips = n_done = 0
    try:
        for actor in sorted(set(manifest["actor"].astype(int))):
            source = feature_file(f"crops_{part}", actor)
            if not source.exists():
                raise StoreError(f"{source}: crops file not found (run `dvc repro crops` for "
                                 f"{actor_dir(actor)})")
            records = []
            ids = list_ids(source)
            n_clips += len(ids)
            for vid in tqdm(ids, desc=f"{name} fold {fold} {actor_dir(actor)}", unit="clip"):
                rec = read_record(source, vid)
                try:
                    crops = decode_crops(rec.data)
                except ValueError as exc:
                    problems.add(source, f"crops of {vid}: {exc}", "skipped", vid)
                    continue
                data = clip_vectors(model, crops, mean, std, rescale, rcfg.get("eyes", "average"),
                                    int(rcfg.get("batch_size", 32)), int(rcfg.get("size", 224)),
                                    rcfg.get("interpolation", "bilinear")).astype(dtype)
                if not np.isfinite(data).all():
                    raise ValueError(f"{source}: {name} of {vid} overflow {dtype}; set "
                                     "features.resnet.dtype: float32")
                records.append(FeatureRecord(vid, data, rec.valid, rec.frame_indices,
                                             f"{rec.source};{tag}"))
            write_feature_file(tmp_dir / f"{actor_dir(actor)}.h5", name, records, file_params,
                               actor=actor)
            n_done += len(records)
    finally:
        torch.set_num_threads(threads)
    replace_dir(tmp_dir, out_dir)
    problems.write(REPORTS / "problems" / name / f"fold_{fold}.csv")
    print(f"{name} fold {fold}: {n_done}/{n_clips} clips -> {out_dir} on {device} "
          f"({len(problems.items)} problems, {time.perf_counter() - t0:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.finetune", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("train", "features"))
    ap.add_argument("part", choices=PARTS)
    ap.add_argument("fold", type=int, help="test fold (index into dataset.folds)")
    args = ap.parse_args(argv)
    params = load_params()
    n_folds = len(get(params, "dataset.folds"))
    if not 0 <= args.fold < n_folds:
        raise SystemExit(f"stages.finetune: fold {args.fold} out of range 0..{n_folds - 1}")
    return (train if args.command == "train" else features)(args.part, args.fold, params)


if __name__ == "__main__":
    sys.exit(main())
