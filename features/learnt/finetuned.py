"""The finetune_features stage's work: fold K's fine-tuned ResNet, frozen -> ``resnet_<part>_ft``.

:func:`finetuned_features` runs fold K's fine-tuned extractor (``data/finetune/<part>/fold_K/extractor``,
written by :func:`models.finetune_fold.train_fold`), frozen, on the 88 middle frames' crops
(``data/features/crops_<part>``) of **every** clip and writes the per-fold feature
``data/features/resnet_<part>_ft/fold_K/Actor_XX.h5`` (``(88, 512)`` per clip, ``features.resnet``
eyes/size/interpolation/dtype) and ``reports/problems/resnet_<part>_ft/fold_K.csv``. Each record's
``source`` and the files' ``params`` name the extractor (fold, sha256 of its weights, training
actors): Multi-Net on test fold K reads ``resnet_<part>_ft`` from ``fold_K`` only
(:func:`models.data.stored_feature`), so a test clip's vector always comes from the model that did
not train on its actor.

Why this lives in :mod:`features.learnt` and not next to the training in :mod:`models`: it is a
frozen feature extractor over stored crops writing the feature store, like
:mod:`features.learnt.resnet_actor`, and ``models`` imports ``features``, never the reverse. The
layout of the fine-tuned models (:data:`FINETUNE_DIR`, :func:`fold_dir`) is therefore defined
here, and :mod:`models.finetune_fold` (which writes them) imports it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from features.core.atomic import replace_dir
from features.core.config import get
from features.core.devices import resolve_device
from features.core.hashing import sha256_file
from features.core.manifest import read_manifest
from features.core.paths import DATA, FEATURES_DIR, REPORTS, actor_dir, feature_file
from features.core.problems import ProblemLog
from features.core.store import FeatureRecord, StoreError, list_ids, read_record, write_feature_file
from features.learnt.resnet import clip_vectors, image_normalisation, load_resnet
from features.visual.crops import decode_crops

PARTS = ("face", "eyes", "mouth")
FINETUNE_DIR = DATA / "finetune"                 # <part>/fold_K/{extractor/, head.pt}


def fold_dir(part: str, fold: int) -> Path:
    """``data/finetune/<part>/fold_K``: fold K's fine-tuned extractor and head."""
    return FINETUNE_DIR / part / f"fold_{fold}"


def feature_name(part: str) -> str:
    """The per-fold feature of a part: ``resnet_<part>_ft``."""
    return f"resnet_{part}_ft"


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


def finetuned_features(part: str, fold: int, params: dict[str, Any]) -> None:
    """Write ``data/features/resnet_<part>_ft/fold_K/`` (every actor) and its problems report."""
    t0 = time.perf_counter()
    rcfg = dict(get(params, "features.resnet"))
    cfg = dict(get(params, "finetune"))
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
