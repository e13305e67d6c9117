"""The resnet stage's work for one actor: crops (``data/features/crops_<part>/Actor_XX.h5``) ->
ResNet vectors per frame, stored as ``features.resnet.dtype`` (see :mod:`features.learnt.resnet`).
The checkpoint must be on this machine: :func:`resnet_actor` stops before any work with
instructions otherwise. Inference runs on ``device`` (auto: CUDA if present) with
``compute.jobs`` torch threads, ``batch_size`` images at a time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from features.core.config import get
from features.core.devices import resolve_device, set_threads
from features.core.parallel import compute_settings
from features.core.paths import actor_dir, feature_file
from features.core.problems import ProblemLog
from features.core.runner import check_stored, write_outputs
from features.core.store import (
    FeatureRecord,
    StoreError,
    list_ids,
    read_record,
)
from features.learnt.checkpoints import resolve_checkpoint
from features.learnt.resnet import clip_vectors, image_normalisation, load_resnet
from features.visual.crops import decode_crops

RESNET_FEATURES = ("resnet_face", "resnet_eyes", "resnet_mouth")


def resnet_actor(feature: str, actor_num: int, params: dict[str, Any]) -> None:
    """Write ``data/features/<feature>/Actor_XX.h5`` and its problems report for one actor."""
    t0 = time.perf_counter()
    actor = actor_dir(actor_num)
    part = feature.split("_", 1)[1]
    cfg = dict(get(params, "features.resnet"))
    eyes = cfg.get("eyes", "average")
    dtype = np.dtype(cfg.get("dtype", "float16"))
    size = int(cfg.get("size", 224))
    interpolation = cfg.get("interpolation", "bilinear")
    comp = compute_settings(params)

    # Fail before any work when the weights are not on this machine.
    folder = resolve_checkpoint(str(cfg["checkpoint"]), "features.resnet.checkpoint", feature,
                                "enabled.resnet: []")
    source = feature_file(f"crops_{part}", actor_num)
    if not source.exists():
        raise StoreError(f"{source}: crops file not found (run `dvc repro crops` for {actor})")
    set_threads(comp["jobs"])
    device = resolve_device(cfg.get("device", "auto"))
    model = load_resnet(folder, device)
    mean, std, rescale, fallback = image_normalisation(folder)
    problems = ProblemLog(feature, fail=get(params, "dataset.on_error", "skip") == "fail")
    if fallback:
        problems.add(folder, "checkpoint has no preprocessor_config.json",
                     "fallback: ImageNet mean/std", fatal_ok=False)

    ids = list_ids(source)
    records = []
    for vid in tqdm(ids, desc=f"{feature} {actor}", unit="clip"):
        rec = read_record(source, vid)
        try:
            crops = decode_crops(rec.data)     # compact (JPEG/PNG/WebP) or raw crops
        except ValueError as exc:
            problems.add(source, f"crops of {vid}: {exc}", "skipped", vid)
            continue
        if crops.dtype != np.uint8 or crops.ndim not in (4, 5) or crops.shape[-1] != 3 \
                or crops.shape[0] == 0:
            problems.add(source, f"crops of {vid} are {crops.dtype} {crops.shape}, expected uint8 "
                         "(frames, H, W, 3) or (frames, k, H, W, 3)", "skipped", vid)
            continue
        data = clip_vectors(model, crops, mean, std, rescale, eyes, int(cfg.get("batch_size", 32)),
                            size, interpolation)
        stored = check_stored(data, dtype, f"{source}: {feature} of {vid}", "features.resnet.dtype")
        records.append(FeatureRecord(vid, stored, rec.valid, rec.frame_indices, rec.source))

    file_params = {"features": {"resnet": cfg}, "mean": mean.tolist(), "std": std.tolist(),
                   "dims": int(records[0].data.shape[1]) if records else 0}
    write_outputs(feature, actor_num, records, len(ids), file_params, problems, t0,
                  where=f" on {device}")
