"""Stage crops: ``python -m stages.crops <actor>``.

Videos + OpenFace CSVs of one actor -> ``data/features/crops_eyes/Actor_XX.h5``
((88, 2, 128, 128, 3) uint8 RGB per clip), ``crops_mouth`` ((88, 110, 180, 3)), ``crops_face``
((88, 224, 224, 3)) and ``reports/problems/crops/Actor_XX.csv``. Each video is decoded once, for
the selected frames only, and all three crops are cut from the same frames (maths in
:mod:`features.visual.crops`). Landmarks of untracked frames are interpolated (:mod:`features.tracks.frames`).

Valid masks: eyes and mouth (and the face in ``tracked`` mode) need a real, tracked, decoded
frame; the centre face crop needs a real, decoded frame. A selected frame the video cannot
decode (truncated file) stays black and invalid, and is reported. A clip whose CSV is missing
or has no tracked frame at all is skipped for all three crops (reported), so the three files
always hold the same clips.

Fine-tuning crops (issue 14): the same three crops at the ``crops.spaced_count`` (20) equally
spaced frames of the whole clip (:func:`features.tracks.frames.spaced_frames`, the thesis'
fine-tuning input) go to ``crops_spaced_<part>/Actor_XX.h5``; they are cut in the same decode
pass as the 88 middle frames. Every crop is stored compressed per ``crops.codec`` /
``crops.quality`` (:func:`features.visual.crops.encode_crops`; read back with
:func:`features.visual.crops.decode_crops`).

To keep memory flat, workers write each clip's patches to ``.npy`` files in a temporary folder
and the HDF5 writer reads them back memory-mapped (with a remote Dask cluster, whose workers do
not share that folder, the arrays travel back in memory instead).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from features.core.atomic import remove_stale_temps, temp_prefix
from features.visual.crops import (CODECS, FACE_MODES, PADDINGS, encode_crops, eye_patches,
                                   face_image, mouth_patch)
from features.core.hashing import sha256_file
from features.tracks.frames import TrackError, clip_notes, interpolate, require_blocks, select_tracked
from features.core.manifest import read_manifest
from features.tracks.openface import FEATURE_NEEDS, OpenFaceError, read_openface
from features.core.config import ParamsError, get, load_params
from features.core.parallel import compute_settings, map_progress
from features.core.paths import actor_dir, feature_file, openface_csv, problems_csv
from features.core.problems import ProblemLog
from features.core.store import FeatureRecord, write_feature_file
from features.media.video import VideoError, iter_frames

CROPS = ("crops_eyes", "crops_mouth", "crops_face")
SPACED = {name: name.replace("crops_", "crops_spaced_") for name in CROPS}  # 20 spaced frames
Note = tuple[str, str, str, bool]  # (problem, action, video_id, fatal)


def crop_clip(video: str | Path, eye_lmk_2d: np.ndarray, lmk_2d: np.ndarray, indices: np.ndarray,
              cfg: dict[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, int]]:
    """Cut the three crops of the frames ``indices (count,)`` of ``video``.

    ``eye_lmk_2d (count, 56, 2)`` and ``lmk_2d (count, 68, 2)`` px are the landmarks of those
    frames. Returns ``({crop name: array}, decoded (count,) bool, {crop name: frames whose
    patch left the frame})``.
    """
    count = len(indices)
    eh, ew = (int(v) for v in cfg["eye_size"])
    mh, mw = (int(v) for v in cfg["mouth_size"])
    side, pad = int(cfg["face_size"]), cfg["padding"]
    out = {"crops_eyes": np.zeros((count, 2, eh, ew, 3), np.uint8),
           "crops_mouth": np.zeros((count, mh, mw, 3), np.uint8),
           "crops_face": np.zeros((count, side, side, 3), np.uint8)}
    outside = {name: 0 for name in CROPS}
    decoded = np.zeros(count, bool)
    where: dict[int, list[int]] = defaultdict(list)
    for pos, idx in enumerate(indices):
        where[int(idx)].append(pos)
    for idx, frame in iter_frames(video, sorted(where)):
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        for pos in where[idx]:
            decoded[pos] = True
            out["crops_eyes"][pos], ok_e = eye_patches(rgb, eye_lmk_2d[pos], (eh, ew), pad)
            out["crops_mouth"][pos], ok_m = mouth_patch(rgb, lmk_2d[pos], (mh, mw), pad)
            out["crops_face"][pos], ok_f = face_image(rgb, side, cfg["face_mode"], lmk_2d[pos],
                                                      float(cfg["face_margin"]), pad)
            outside["crops_eyes"] += not ok_e
            outside["crops_mouth"] += not ok_m
            outside["crops_face"] += not ok_f
    return out, decoded, outside


def clip_job(job: dict[str, Any]) -> tuple[dict[str, FeatureRecord] | None, list[Note]]:
    """One clip's six records (88 middle + 20 spaced frames x eyes, mouth, face; data as .npy
    paths when ``job["tmp"]`` is set) and its notes."""
    vid, path, video = job["video_id"], Path(job["csv"]), job["video"]
    if not path.exists():
        return None, [(f"OpenFace CSV not found: {path}", "skipped", vid, True)]
    try:
        track = read_openface(path)
        track.require(*FEATURE_NEEDS["crops"], feature="crops")
        sel = select_tracked(track, job["n_frames"], job["count"])
        spaced = select_tracked(track, job["n_frames"], job["spaced_count"], "spaced")
        both = np.concatenate([sel.indices, spaced.indices])   # one decode pass for both
        eye = interpolate(track.eye_lmk_2d, track, both)
        lmk = interpolate(track.lmk_2d, track, both)
        crops, decoded, outside = crop_clip(video, eye, lmk, both, job["crops"])
    except (OpenFaceError, TrackError, VideoError, ValueError) as exc:
        return None, [(str(exc), "skipped", vid, True)]
    notes: list[Note] = [(p, a, vid, False) for p, a in clip_notes(sel, job["n_frames"], job["max_missing"])]
    if not decoded.all():
        notes.append((f"{video}: {int((~decoded).sum())} selected frame(s) do not decode "
                      f"(truncated video?)", "padded: black, marked invalid", vid, True))
    pad = job["crops"]["padding"]
    for name, n in outside.items():
        if n:
            notes.append((f"{name}: {n} of {len(decoded)} patches leave the frame",
                          f"padded: {pad}", vid, False))
    source = f"video:{job['fingerprint']};csv:{sha256_file(path)}"
    records = {}
    m = len(sel.indices)
    for s_, part, names in ((sel, slice(0, m), CROPS), (spaced, slice(m, None), SPACED.values())):
        real = ~s_.padded & decoded[part]
        valid = {"eyes": real & s_.tracked, "mouth": real & s_.tracked,
                 "face": real & (s_.tracked if job["crops"]["face_mode"] == "tracked" else True)}
        for crop, name in zip(CROPS, names):
            data: Any = encode_crops(crops[crop][part], job["crops"]["codec"],
                                     int(job["crops"]["quality"]))
            if job["tmp"]:
                npy = str(Path(job["tmp"]) / f"{vid}.{name}.npy")
                np.save(npy, data)
                data = npy
            records[name] = FeatureRecord(vid, data, valid[crop.split("_")[1]], s_.indices, source)
    return records, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.crops", description=__doc__.splitlines()[0])
    ap.add_argument("actor", help="actor number, e.g. 05")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    params = load_params()
    actor = actor_dir(args.actor)
    cfg = {"eye_size": get(params, "crops.eye_size"), "mouth_size": get(params, "crops.mouth_size"),
           "face_size": get(params, "crops.face_size"), "face_mode": get(params, "crops.face_mode"),
           "face_margin": get(params, "crops.face_margin", 1.4),
           "padding": get(params, "crops.padding", "zeros"),
           "codec": get(params, "crops.codec", "raw"), "quality": int(get(params, "crops.quality", 90))}
    if cfg["codec"] not in CODECS:
        raise ParamsError(f"params.yaml: crops.codec must be one of {CODECS}, got {cfg['codec']!r}")
    spaced_count = int(get(params, "crops.spaced_count", 20))
    if spaced_count < 1:
        raise ParamsError(f"params.yaml: crops.spaced_count must be >= 1, got {spaced_count}")
    if cfg["face_mode"] not in FACE_MODES:
        raise ParamsError(f"params.yaml: crops.face_mode must be one of {FACE_MODES}, got {cfg['face_mode']!r}")
    if cfg["padding"] not in PADDINGS:
        raise ParamsError(f"params.yaml: crops.padding must be one of {PADDINGS}, got {cfg['padding']!r}")
    count, max_missing = int(get(params, "frames.count")), float(get(params, "frames.max_missing"))
    problems = ProblemLog("crops", fail=get(params, "dataset.on_error", "skip") == "fail")
    manifest = read_manifest(args.actor)
    require_blocks([openface_csv(v, args.actor) for v in manifest["video_id"]],
                   FEATURE_NEEDS["crops"], "crops", actor)
    comp = compute_settings(params)
    # Scratch .npy folder in the system temporary folder, named after this process: a run killed
    # outright (SIGKILL) cannot remove its own (~27 MB a clip), so the next run removes those
    # of processes that are gone.
    scratch = Path(tempfile.gettempdir()) / f"crops-{actor}"
    remove_stale_temps(scratch)
    with tempfile.TemporaryDirectory(prefix=f"{temp_prefix(scratch)}-") as tmp:
        jobs = [{"video_id": r.video_id, "csv": str(openface_csv(r.video_id, args.actor)),
                 "video": str(r.path), "fingerprint": str(r.fingerprint), "n_frames": int(r.frames),
                 "count": count, "spaced_count": spaced_count, "max_missing": max_missing, "crops": cfg,
                 "tmp": None if comp["backend"] == "dask" else tmp}
                for r in manifest.itertuples(index=False)]
        results = map_progress(clip_job, jobs, desc=f"crops {actor}", **comp)
        per_crop: dict[str, list[FeatureRecord]] = {name: [] for name in (*CROPS, *SPACED.values())}
        for job, (recs, notes) in zip(jobs, results):
            for problem, action, vid, fatal in notes:
                problems.add(job["csv"], problem, action, vid, fatal_ok=fatal)
            for name, rec in (recs or {}).items():
                if isinstance(rec.data, str):
                    rec.data = np.load(rec.data, mmap_mode="r")
                per_crop[name].append(rec)
        file_params = {"crops": params.get("crops", {}), "frames": params.get("frames", {}),
                       "colour": "RGB"}
        for name in per_crop:
            write_feature_file(feature_file(name, args.actor), name, per_crop[name], file_params,
                               actor=int(args.actor))
        per_crop.clear()
    problems.write(problems_csv(f"crops/{actor}"))
    n = len(results) - sum(r is None for r, _ in results)
    print(f"crops {actor}: {n}/{len(jobs)} clips ({len(problems.items)} problems, "
          f"{time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
