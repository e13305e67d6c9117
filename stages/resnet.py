"""Stage resnet: ``python -m stages.resnet <resnet_face|resnet_eyes|resnet_mouth> <actor>``.

Crops of one actor (``data/features/crops_<part>/Actor_XX.h5`` from the crops stage) ->
``data/features/resnet_<part>/Actor_XX.h5`` (``(frames, 512)`` per clip, eyes averaged or
``(frames, 1024)`` concatenated, stored as ``features.resnet.dtype``) and
``reports/problems/resnet_<part>/Actor_XX.csv``. Each clip keeps the crops' frame indices and
validity mask. The checkpoint (``features.resnet.checkpoint``) must be on this machine: the stage
stops before any work with instructions otherwise. Inference runs on ``device`` (auto: CUDA if
present) with ``compute.jobs`` torch threads, ``batch_size`` images at a time.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from features.core.devices import resolve_device, set_threads
from features.learnt.checkpoints import resolve_checkpoint
from features.core.parallel import compute_settings
from features.core.config import ParamsError, get, load_params
from features.core.paths import actor_dir, feature_file
from features.core.problems import ProblemLog
from features.visual.crops import decode_crops
from features.learnt.resnet import EYES_MODES, clip_vectors, image_normalisation, load_resnet
from features.core.store import (
    FeatureRecord,
    StoreError,
    list_ids,
    read_record,
)
from stages.cli import write_actor_outputs

FEATURES = ("resnet_face", "resnet_eyes", "resnet_mouth")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.resnet", description=__doc__.splitlines()[0])
    ap.add_argument("feature", choices=FEATURES)
    ap.add_argument("actor", help="actor number, e.g. 05")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    params = load_params()
    feature, actor = args.feature, actor_dir(args.actor)
    part = feature.split("_", 1)[1]
    cfg = dict(get(params, "features.resnet"))
    eyes = cfg.get("eyes", "average")
    if eyes not in EYES_MODES:
        raise ParamsError(f"features.resnet.eyes must be one of {EYES_MODES}, got {eyes!r}")
    dtype = np.dtype(cfg.get("dtype", "float16"))
    if dtype.kind != "f":
        raise ParamsError(f"features.resnet.dtype must be a float type, got {cfg.get('dtype')!r}")
    size = int(cfg.get("size", 224))
    interpolation = cfg.get("interpolation", "bilinear")
    comp = compute_settings(params)

    # Fail before any work when the weights are not on this machine.
    folder = resolve_checkpoint(str(cfg["checkpoint"]), "features.resnet.checkpoint", feature,
                                "enabled.resnet: []")
    source = feature_file(f"crops_{part}", args.actor)
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
        stored = data.astype(dtype)
        if not np.isfinite(stored).all():
            raise ValueError(f"{source}: {feature} of {vid} overflow {dtype} (max |x| "
                             f"{np.abs(data).max():.3g}); set features.resnet.dtype: float32")
        records.append(FeatureRecord(vid, stored, rec.valid, rec.frame_indices, rec.source))

    file_params = {"features": {"resnet": cfg}, "mean": mean.tolist(), "std": std.tolist(),
                   "dims": int(records[0].data.shape[1]) if records else 0}
    write_actor_outputs(feature, args.actor, records, len(ids), file_params, problems, t0,
                        where=f" on {device}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
