"""Stage audio: ``python -m stages.audio lms,mfcc <actor>`` (any subset).

Clips of one actor (manifest slice) -> ``data/features/<feature>/Actor_XX.h5`` (LMS ``(88, 24)``
or MFCC ``(88, 39)`` float32 per clip) and ``reports/problems/<feature>/Actor_XX.csv``. Decoding
and the 140 800 middle samples in :mod:`features.media.audio`, the spectral maths in
:mod:`features.audio.spectral`. A clip without audio is reported and skipped (``dataset.on_error:
skip``) or stops the stage (``fail``); a short clip is zero-padded, reported, and its frames
centred in the padding are marked invalid.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import torch

from features.media.audio import no_audio_problem, pad_note, try_middle_audio, valid_frames
from features.core.manifest import read_manifest
from features.core.parallel import compute_settings, map_progress
from features.core.config import get
from features.core.paths import actor_dir
from features.core.problems import ProblemLog, collect
from features.audio.spectral import spectral_centres, spectral_feature
from features.core.store import FeatureRecord
from stages.cli import run_named, write_actor_outputs

FEATURES = ("lms", "mfcc")
Note = tuple[str, str, str, bool]  # (problem, action, video_id, fatal)


def clip_job(job: dict[str, Any]) -> tuple[FeatureRecord | None, list[Note]]:
    """One clip's spectral record (or None) and its notes for the problems report."""
    vid, samples, rate = job["video_id"], job["samples"], job["sample_rate"]
    missing = no_audio_problem(job["native_rate"])
    if missing:
        return None, [(missing, "skipped", vid, True)]
    clip, error = try_middle_audio(job["path"], samples, rate, job["channels"])
    if clip is None:
        return None, [(error, "skipped", vid, True)]
    notes: list[Note] = []
    if job["native_rate"] and job["native_rate"] != rate:
        notes.append((f"audio sample rate {job['native_rate']} Hz, resampled to {rate} Hz by ffmpeg",
                      "resampled", vid, False))
    if clip.padded:
        notes.append((pad_note(clip, samples), "padded", vid, False))
    data = spectral_feature(job["feature"], clip.mono, rate, job["settings"])
    centres = spectral_centres(data.shape[0], job["settings"])
    valid = valid_frames(centres, clip.pad_before, clip.pad_after, samples)
    return FeatureRecord(vid, data, valid, None, job["source"]), notes


def run_feature(feature: str, actor_arg: str, params: dict[str, Any]) -> int:
    """Compute one feature for one actor; returns the number of clips written."""
    t0 = time.perf_counter()
    args = argparse.Namespace(actor=actor_arg, feature=feature)
    feature, actor = args.feature, actor_dir(args.actor)
    settings = dict(get(params, f"features.{feature}"))
    audio = dict(get(params, "features.audio"))
    samples, rate = int(audio["samples"]), int(audio["sample_rate"])
    problems = ProblemLog(feature, fail=get(params, "dataset.on_error", "skip") == "fail")
    # One torch thread per process: a clip's STFT is ~2 ms single-threaded and slower with
    # threads; parallelism comes from compute.jobs workers (joblib limits theirs the same way).
    torch.set_num_threads(1)
    manifest = read_manifest(args.actor)
    jobs = [{"video_id": row.video_id, "path": str(row.path), "feature": feature,
             "settings": settings, "samples": samples, "sample_rate": rate,
             "channels": int(getattr(row, "audio_channels", 0) or 0) or None,
             "native_rate": int(getattr(row, "audio_rate", 0) or 0),
             "source": str(getattr(row, "fingerprint", ""))}
            for row in manifest.itertuples(index=False)]
    results = map_progress(clip_job, jobs, desc=f"{feature} {actor}",
                           prefer="threads", **compute_settings(params))
    records = collect(jobs, results, problems, "path")
    file_params = {"features": {feature: settings, "audio": audio}}
    return write_actor_outputs(feature, args.actor, records, len(jobs), file_params, problems, t0)


def main(argv: list[str] | None = None) -> int:
    return run_named(argv, "python -m stages.audio", __doc__, FEATURES, run_feature)


if __name__ == "__main__":
    sys.exit(main())
