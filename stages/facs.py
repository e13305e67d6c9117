"""Stage facs: ``python -m stages.facs au,pose,gaze,gaze_stats <actor>`` (any subset).

OpenFace CSVs of one actor -> ``data/features/<feature>/Actor_XX.h5`` and
``reports/problems/<feature>/Actor_XX.csv``: ``au`` (88, 35), ``pose`` (88, 6), ``gaze``
(88, 4) per frame, ``gaze_stats`` (72,) per clip. Maths in :mod:`features.visual.au_pose` and
:mod:`features.visual.gaze`, frame handling in :mod:`features.tracks.frames`. Untracked frames are linearly
interpolated like the landmark features (AU presences are rounded back to 0/1) and marked
invalid in the stored mask.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from features.visual.au_pose import AU_NAMES, POSE_NAMES, au_features, pose_features
from features.core.hashing import sha256_file
from features.visual.gaze import GAZE_FRAME_NAMES, GAZE_STAT_NAMES, gaze_frames, gaze_stats
from features.tracks.frames import (
    TrackError,
    clip_notes,
    gaze_valid,
    interpolate,
    require_blocks,
    select_tracked,
)
from features.core.manifest import read_manifest
from features.tracks.openface import AU_R, FEATURE_NEEDS, OpenFaceError, read_openface
from features.core.parallel import compute_settings, map_progress
from features.core.config import get
from features.core.paths import actor_dir, openface_csv
from features.core.problems import ProblemLog, collect
from features.core.store import FeatureRecord
from stages.cli import run_named, write_actor_outputs

FEATURES = ("au", "pose", "gaze", "gaze_stats")
NEEDS = {"au": FEATURE_NEEDS["au"], "pose": FEATURE_NEEDS["pose"], "gaze": ["gaze"],
         "gaze_stats": FEATURE_NEEDS["gaze"]}
NAMES = {"au": AU_NAMES, "pose": POSE_NAMES, "gaze": GAZE_FRAME_NAMES, "gaze_stats": GAZE_STAT_NAMES}
AU45 = AU_R.index("45")

Note = tuple[str, str, str, bool]  # (problem, action, video_id, fatal)


def clip_job(job: dict[str, Any]) -> tuple[FeatureRecord | None, list[Note]]:
    """One clip's record of ``job['feature']`` (or None) and its notes for the problems report."""
    vid, path, feature = job["video_id"], Path(job["csv"]), job["feature"]
    if not path.exists():
        return None, [(f"OpenFace CSV not found: {path}", "skipped", vid, True)]
    try:
        track = read_openface(path)
        track.require(*NEEDS[feature], feature=feature)
        sel = select_tracked(track, job["n_frames"], job["count"])
        idx = sel.indices
        if feature == "au":
            au_c = np.round(interpolate(track.au_c, track, idx))
            data = au_features(interpolate(track.au_r, track, idx), au_c)
        elif feature == "pose":
            data = pose_features(interpolate(track.pose_T, track, idx),
                                 interpolate(track.pose_R, track, idx), sel.valid)
        elif feature == "gaze":
            data = gaze_frames(interpolate(track.gaze_angle, track, idx, gaze_valid(track)))
        else:
            g = job["gaze"]
            data = gaze_stats(interpolate(track.gaze_angle, track, idx, gaze_valid(track)),
                              interpolate(track.au_r[:, AU45], track, idx), sel.valid, sel.padded,
                              job["fps"], float(g["blink_threshold"]), float(g["fixation_threshold"]))
    except (OpenFaceError, TrackError, ValueError) as exc:
        return None, [(str(exc), "skipped", vid, True)]
    notes = [(p, a, vid, False) for p, a in clip_notes(sel, job["n_frames"], job["max_missing"])]
    valid = None if feature == "gaze_stats" else sel.valid
    return FeatureRecord(vid, data, valid, idx, f"csv:{sha256_file(path)}"), notes


def run_feature(feature: str, actor_arg: str, params: dict[str, Any]) -> int:
    """Compute one feature for one actor; returns the number of clips written."""
    t0 = time.perf_counter()
    args = argparse.Namespace(actor=actor_arg, feature=feature)
    feature, actor = args.feature, actor_dir(args.actor)
    count, max_missing = int(get(params, "frames.count")), float(get(params, "frames.max_missing"))
    problems = ProblemLog(feature, fail=get(params, "dataset.on_error", "skip") == "fail")
    manifest = read_manifest(args.actor)
    require_blocks([openface_csv(v, args.actor) for v in manifest["video_id"]], NEEDS[feature],
                   feature, actor)
    gaze = {"blink_threshold": get(params, "gaze.blink_threshold"),
            "fixation_threshold": get(params, "gaze.fixation_threshold")}
    jobs = [{"video_id": r.video_id, "csv": str(openface_csv(r.video_id, args.actor)),
             "feature": feature, "n_frames": int(r.frames), "count": count, "fps": float(r.fps),
             "max_missing": max_missing, "gaze": gaze} for r in manifest.itertuples(index=False)]
    results = map_progress(clip_job, jobs, desc=f"{feature} {actor}",
                           prefer="threads", **compute_settings(params))
    records = collect(jobs, results, problems, "csv")
    file_params = {"frames": params.get("frames", {}), "names": list(NAMES[feature])}
    if feature.startswith("gaze"):
        file_params["gaze"] = params.get("gaze", {})
    return write_actor_outputs(feature, args.actor, records, len(jobs), file_params, problems, t0)


def main(argv: list[str] | None = None) -> int:
    return run_named(argv, "python -m stages.facs", __doc__, FEATURES, run_feature)


if __name__ == "__main__":
    sys.exit(main())
