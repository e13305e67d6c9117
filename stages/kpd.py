"""Stage kpd: ``python -m stages.kpd face,eyes <actor>`` (or one kind).

OpenFace CSVs of one actor -> ``data/features/kpd_<kind>/Actor_XX.h5`` ((88, 780) face or
(88, 179) eyes per clip, float32) and ``reports/problems/kpd_<kind>/Actor_XX.csv``. Maths in
:mod:`features.visual.kpd`, reference frames in :mod:`features.tracks.neutral`, frame handling in
:mod:`features.tracks.frames`.

``kpd.neutral_fallback`` (``same_video`` or ``error``) says what happens to a clip whose neutral
reference clip is missing (no neutral_ref in the manifest, no CSV, or no tracked frame) under
``neutral_video`` normalisation: normalise by its own most neutral frame and report it, or stop.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from features.core.hashing import sha256_file
from features.tracks.frames import (
    TrackError,
    clip_notes,
    require_blocks,
    select_tracked,
)
from features.visual.kpd import (
    NORMALISATIONS,
    face_landmarks,
    kpd_dims,
)
from features.visual.kpd_track import track_kpd, track_reference
from features.core.manifest import read_manifest
from features.tracks.openface import FEATURE_NEEDS, OpenFaceError, read_openface
from features.core.parallel import compute_settings, map_progress
from features.core.config import ParamsError, get
from features.core.paths import actor_dir, openface_csv
from features.core.problems import ProblemLog, collect
from features.core.store import FeatureRecord
from stages.cli import run_named, write_actor_outputs

Note = tuple[str, str, str, bool]  # (problem, action, video_id, fatal)
KINDS = ("face", "eyes")


def reference_distances(kind: str, path: Path, landmarks: tuple[int, ...]
                        ) -> tuple[np.ndarray, int, str]:
    """Distances ``(D,)`` of the most neutral tracked frame of the clip at ``path``, that
    frame's OpenFace ``frame`` number and a provenance string (distances before normalisation,
    so ``graph_path`` never calls this)."""
    ref, frame = track_reference(kind, read_openface(path), landmarks)
    return ref, frame, f"{path.stem}@frame{frame}:{sha256_file(path)}"


def clip_job(job: dict[str, Any]) -> tuple[FeatureRecord | None, list[Note]]:
    """One clip's KPD record (or None) and its notes for the problems report."""
    vid, path = job["video_id"], Path(job["csv"])
    notes: list[Note] = []
    if not path.exists():
        return None, [(f"OpenFace CSV not found: {path}", "skipped", vid, True)]
    try:
        track = read_openface(path)
        sel = select_tracked(track, job["n_frames"], job["count"])
        kind, norm = job["kind"], job["normalisation"]
        reference, ref_source = job.get("reference"), job.get("reference_source", "")
        if norm == "same_video" or (norm == "neutral_video" and reference is None):
            reference, _, ref_source = reference_distances(kind, path, job["landmarks"])
        data = track_kpd(kind, norm, track, sel.indices, reference, job["landmarks"])
    except (OpenFaceError, TrackError, ValueError) as exc:
        return None, [(str(exc), "skipped", vid, True)]
    notes += [(p, a, vid, False) for p, a in clip_notes(sel, job["n_frames"], job["max_missing"])]
    source = f"csv:{sha256_file(path)}" + (f";ref:{ref_source}" if ref_source else "")
    return FeatureRecord(vid, data, sel.valid, sel.indices, source), notes


def run_kind(kind: str, actor_arg: str, params: dict[str, Any]) -> int:
    """Compute kpd_<kind> for one actor; returns the number of clips written."""
    t0 = time.perf_counter()
    args = argparse.Namespace(actor=actor_arg, kind=kind)
    kind, actor = args.kind, actor_dir(args.actor)
    feature = f"kpd_{kind}"
    norm = get(params, "kpd.normalisation")
    if norm not in NORMALISATIONS:
        raise ParamsError(f"params.yaml: kpd.normalisation must be one of {NORMALISATIONS}, got {norm!r}")
    fallback = get(params, "kpd.neutral_fallback", "same_video")
    if fallback not in ("same_video", "error"):
        raise ParamsError(f"params.yaml: kpd.neutral_fallback must be same_video or error, got {fallback!r}")
    landmarks = face_landmarks(get(params, "kpd.face_landmarks", "default"))
    count, max_missing = int(get(params, "frames.count")), float(get(params, "frames.max_missing"))
    problems = ProblemLog(feature, fail=get(params, "dataset.on_error", "skip") == "fail")
    manifest = read_manifest(args.actor)

    needs = [b for b in FEATURE_NEEDS[feature]
             if norm in ("neutral_video", "same_video") or b not in ("au_r", "au_c")]
    require_blocks([openface_csv(v, args.actor) for v in manifest["video_id"]], needs, feature, actor)

    # Reference distances of each neutral reference clip, computed once per actor.
    refs: dict[str, tuple[np.ndarray, str] | None] = {}
    if norm == "neutral_video":
        for ref_id in sorted(set(manifest["neutral_ref"].astype(str))):
            path = openface_csv(ref_id, args.actor) if ref_id else None
            try:
                if path is None or not path.exists():
                    raise FileNotFoundError(f"{path}: OpenFace CSV not found" if path else
                                            "the manifest has no neutral reference clip")
                ref, _, src = reference_distances(kind, path, landmarks)
                refs[ref_id] = (ref, src)
            except (OSError, OpenFaceError, TrackError, ValueError) as exc:
                refs[ref_id] = None
                users = manifest.loc[manifest["neutral_ref"] == ref_id, "video_id"].tolist()
                msg = f"neutral reference clip {ref_id or '(none)'} unusable ({exc})"
                if fallback == "error":
                    raise RuntimeError(f"{actor}: {msg}; needed by {', '.join(users)} "
                                       f"(kpd.neutral_fallback: error)") from exc
                for vid in users:
                    problems.add(path or openface_csv(vid, args.actor), msg,
                                 "fallback: same_video", vid, fatal_ok=False)

    jobs = []
    for row in manifest.itertuples(index=False):
        job = {"video_id": row.video_id, "csv": str(openface_csv(row.video_id, args.actor)),
               "n_frames": int(row.frames), "count": count, "kind": kind, "normalisation": norm,
               "landmarks": landmarks, "max_missing": max_missing}
        if norm == "neutral_video" and refs.get(str(row.neutral_ref)) is not None:
            job["reference"], job["reference_source"] = refs[str(row.neutral_ref)]
        jobs.append(job)
    results = map_progress(clip_job, jobs, desc=f"{feature} {actor}",
                           prefer="threads", **compute_settings(params))
    records = collect(jobs, results, problems, "csv")
    file_params = {"kpd": params.get("kpd", {}), "frames": params.get("frames", {}),
                   "landmarks": list(landmarks), "dims": kpd_dims(kind, norm, landmarks)}
    return write_actor_outputs(feature, args.actor, records, len(jobs), file_params, problems, t0)


def main(argv: list[str] | None = None) -> int:
    return run_named(argv, "python -m stages.kpd", __doc__, KINDS, run_kind)


if __name__ == "__main__":
    sys.exit(main())
