"""The wav2vec2 stage's work for one actor: clips -> Wav2Vec2 tensors (transformer output, CNN
encoder or hidden layer N, see :mod:`features.learnt.wav2vec2`), stored as
``features.wav2vec2.dtype``. The checkpoint must be on this machine: :func:`wav2vec2_actor` stops
before any work with instructions otherwise. Audio decoding runs on ``compute.jobs`` workers;
inference runs in batches of ``batch_size`` clips on ``device`` with ``compute.jobs`` threads.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from features.core.config import get
from features.core.devices import resolve_device, set_threads
from features.core.manifest import read_manifest
from features.core.parallel import compute_settings, map_progress
from features.core.paths import actor_dir
from features.core.problems import ProblemLog
from features.core.runner import check_stored, write_outputs
from features.core.store import FeatureRecord
from features.learnt.checkpoints import resolve_checkpoint
from features.learnt.wav2vec2 import (
    check_output,
    frame_centres,
    load_wav2vec2,
    parse_output,
    resample,
    wav2vec2_batch,
)
from features.media.audio import pad_note, try_middle_audio, valid_frames


def decode_job(job: dict[str, Any]) -> dict[str, Any]:
    """Decode one clip's middle samples and resample them to the model rate (runs in a worker)."""
    clip, error = try_middle_audio(job["path"], job["samples"], job["sample_rate"], job["channels"])
    out = dict(job, error=error, clip=None, audio=None)
    if clip is not None:
        out["clip"] = clip
        out["audio"] = resample(clip.mono, job["sample_rate"], job["target_rate"])
    return out


def wav2vec2_actor(feature: str, actor_num: int, params: dict[str, Any]) -> None:
    """Write ``data/features/<feature>/Actor_XX.h5`` and its problems report for one actor."""
    t0 = time.perf_counter()
    output = parse_output(feature)
    cfg = dict(get(params, "features.wav2vec2"))
    audio = dict(get(params, "features.audio"))
    samples, rate = int(audio["samples"]), int(audio["sample_rate"])
    dtype = np.dtype(cfg.get("dtype", "float16"))
    comp = compute_settings(params)
    actor = actor_dir(actor_num)

    # Fail before any work when the weights are not on this machine.
    folder = resolve_checkpoint(str(cfg["checkpoint"]), "features.wav2vec2.checkpoint", feature,
                                "enabled.wav2vec2: []")
    set_threads(comp["jobs"])
    device = resolve_device(cfg.get("device", "auto"))
    fe, model, fallback = load_wav2vec2(folder, device)
    check_output(model, output)
    problems = ProblemLog(feature, fail=get(params, "dataset.on_error", "skip") == "fail")
    if fallback:
        problems.add(folder, "checkpoint has no preprocessor_config.json",
                     "fallback: Wav2Vec2FeatureExtractor defaults (16 kHz, do_normalize=True)",
                     fatal_ok=False)

    manifest = read_manifest(actor_num)
    jobs = [{"video_id": row.video_id, "path": str(row.path), "samples": samples,
             "sample_rate": rate, "target_rate": int(fe.sampling_rate),
             "channels": int(getattr(row, "audio_channels", 0) or 0) or None,
             "source": str(getattr(row, "fingerprint", ""))}
            for row in manifest.itertuples(index=False)]
    decoded = map_progress(decode_job, jobs, desc=f"decode {actor}", **comp)
    good = []
    for item in decoded:
        if item["clip"] is None:
            problems.add(item["path"], item["error"], "skipped", item["video_id"])
            continue
        if item["clip"].padded:
            problems.add(item["path"], pad_note(item["clip"], samples), "padded",
                         item["video_id"], fatal_ok=False)
        good.append(item)

    records = []
    batch_size = max(1, int(cfg.get("batch_size", 4)))
    with tqdm(total=len(good), desc=f"{feature} {actor}", unit="clip") as bar:
        for start in range(0, len(good), batch_size):
            batch = good[start:start + batch_size]
            feats = wav2vec2_batch(fe, model, [b["audio"] for b in batch], output)
            centres = frame_centres(model, feats.shape[1]) * (rate / fe.sampling_rate)
            for item, data in zip(batch, feats):
                clip = item["clip"]
                valid = valid_frames(centres, clip.pad_before, clip.pad_after, samples)
                stored = check_stored(data, dtype, f"{item['path']}: {feature} values",
                                      "features.wav2vec2.dtype")
                records.append(FeatureRecord(item["video_id"], stored, valid, None, item["source"]))
            bar.update(len(batch))

    file_params = {"features": {"wav2vec2": cfg, "audio": audio}, "output": str(output),
                   "hidden_size": int(model.config.hidden_size),
                   "num_hidden_layers": int(model.config.num_hidden_layers)}
    write_outputs(feature, actor_num, records, len(jobs), file_params, problems, t0,
                        where=f" on {device}")
