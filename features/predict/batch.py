"""Offline prediction: score every recording of a folder (or one file) with the fold models.

``python -m stages.predict INPUT`` (the DVC stage ``predict@INPUT``, one per entry of
``predict.inputs``; the empty default list defines no stage) runs :func:`predict_input`: every
video (or audio file, for audio-only models) under the folder ``INPUT`` (or the one file), with
any names and no labels, is scored and the outputs go to ``reports/predict/<INPUT>/``:

* ``<recording>.csv``: a ``clip`` row (probability per emotion and the top class for the whole
  recording) then one ``window`` row per sliding window (start/end time, probabilities);
* ``<recording>.png``: the probabilities over time;
* ``summary.csv``: one row per recording (scored or failed, with the reason);
* ``problems.csv``: every file that could not be scored and every fallback, naming the file;
* ``settings.json``: models, folds, feature settings and the predict params used.

Recordings: every file under ``INPUT`` with a :data:`MEDIA_EXTENSIONS` extension (hidden files
and folders skipped, other files reported); its name is the path relative to ``INPUT`` without
extension, ``/`` -> ``__`` (extension kept on a clash). The output folder is written next to
its final place and swapped in whole (:func:`features.core.atomic.replace_dir`).

Models: ``data/models/fold_K/model.pt`` (:func:`models.predict.load_models`); the posteriors of
every fold are averaged, or one fold is used (``predict.fold``). Features are computed with the
settings the checkpoints record, new recordings are tracked with the embedded tracker.

Neutral reference (``predict.neutral``, for key-point distances): the recording's own neutral
stretch (``clip``), its first ``neutral_seconds`` (``first_seconds``), or a calibration
recording (``calibration``: ``predict.calibration`` names one file for all, or a mapping keyed
by recording name, file name, path relative to the input or stem, ``*`` for the rest), tracked
once however many recordings share it. A recording that cannot be scored is reported in
``summary.csv`` and ``problems.csv``; the others are still scored.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from features.core.atomic import remove_stale_temps, replace_dir, temp_prefix
from features.core.config import get
from features.core.parallel import compute_settings, map_progress
from features.core.paths import REPORTS
from features.core.problems import ProblemLog
from features.media.video import VideoError, probe_media
from features.predict.outputs import failed_row, plot_timeline, summary_row, write_csv
from features.predict.recording import (
    FeatureSpec,
    InputError,
    Reference,
    feature_spec,
    load_recording,
    neutral_reference,
    track_recording,
)
from features.tracker.embedded import TrackerSettings
from features.tracks.openface import OpenFaceError, OpenFaceTrack
from models.predict import FoldModel, PredictConfig, load_models, score_recording

PREDICT_DIR = REPORTS / "predict"
MEDIA_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".wav", ".flac", ".mp3",
                    ".m4a", ".aac", ".ogg")


def predict_config(params: dict[str, Any]) -> PredictConfig:
    """The scoring params (checked by the params schema)."""
    p = get(params, "predict")
    return PredictConfig(window=int(p.get("window") or 0), hop=int(p.get("hop", 15)),
                         clip_score=str(p.get("clip_score", "mean")),
                         neutral=str(p.get("neutral", "clip")),
                         neutral_seconds=float(p.get("neutral_seconds", 2.0)))


def list_recordings(source: Path, problems: ProblemLog) -> list[tuple[str, Path]]:
    """``(name, path)`` of every media file under ``source`` (or ``source`` itself). Names are
    the path relative to the folder without extension, ``/`` -> ``__`` (extension kept on a
    clash); files with other extensions are reported, not silently dropped."""
    if source.is_file():
        return [(source.stem, source)]
    if not source.is_dir():
        raise SystemExit(f"stages.predict: {source}: no such file or folder")
    found = []
    for p in sorted(source.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(source).parts):
            continue
        if p.suffix.lower() not in MEDIA_EXTENSIONS:
            problems.add(p, f"not a media file (extension {p.suffix or 'none'}; predict reads "
                            f"{', '.join(MEDIA_EXTENSIONS)})", "skipped")
            continue
        found.append(p)
    stems = [str(p.relative_to(source).with_suffix("")).replace("/", "__") for p in found]
    names = [s if stems.count(s) == 1 else str(p.relative_to(source)).replace("/", "__")
             for s, p in zip(stems, found)]
    return list(zip(names, found))


def calibration_for(params: dict[str, Any], name: str, path: Path, source: Path) -> Path | None:
    """The calibration recording named for ``path`` (``predict.calibration``: one file for all,
    or a mapping keyed by recording name, file name or path relative to the input)."""
    cal = get(params, "predict.calibration", "")
    if not cal:
        return None
    if isinstance(cal, str):
        return Path(cal)
    rel = str(path.relative_to(source)) if source.is_dir() else path.name
    for key in (name, path.name, rel, path.stem):
        if key in cal:
            return Path(cal[key])
    return Path(cal["*"]) if "*" in cal else None


class Calibrations:
    """Calibration tracks, tracked once each (several recordings may share one)."""

    def __init__(self, settings: TrackerSettings):
        self.settings = settings
        self.cache: dict[Path, OpenFaceTrack | Exception] = {}

    def track(self, path: Path) -> OpenFaceTrack:
        """The track of calibration recording ``path``; :class:`InputError` if it is unusable."""
        if path not in self.cache:
            try:
                probe = probe_media(path)
                if not probe.frames:
                    raise InputError(f"calibration recording {path} has no video stream")
                track = track_recording(path, probe.fps, self.settings)
                if not track.success.any():
                    raise InputError(f"calibration recording {path}: no face found in any of "
                                     f"its {track.n} frames")
                self.cache[path] = track
            except (VideoError, OpenFaceError, InputError) as exc:
                self.cache[path] = exc
        got = self.cache[path]
        if isinstance(got, Exception):
            raise InputError(f"calibration: {got}")
        return got


def score_one(item: dict[str, Any]) -> dict[str, Any]:
    """Score one recording; returns its rows or the reason it failed, and its notes."""
    name, path, ctx = item["name"], item["path"], item["ctx"]
    spec: FeatureSpec = ctx["spec"]
    cfg: PredictConfig = ctx["cfg"]
    out: dict[str, Any] = {"name": name, "path": path, "rows": None, "error": "", "notes": []}
    try:
        rec = load_recording(path, spec, ctx["tracker"])
        out["notes"] = rec.notes
        if rec.total < spec.count:
            out["notes"].append((f"{rec.total / spec.model_fps:.2f} s is shorter than the "
                                 f"models' {spec.count} frames ({spec.count / spec.model_fps:.2f} s)",
                                 "padded: scored as one edge-padded window, flagged"))
        calibration = None
        if cfg.neutral == "calibration" and spec.needs_reference:
            cal = item["calibration"]
            if cal is None:
                raise InputError(f"{path}: predict.neutral is calibration but predict.calibration "
                                 f"names no calibration recording for {name}")
            calibration = ctx["calibrations"].track(cal)
        ref: Reference = neutral_reference(rec, spec, cfg.neutral, cfg.neutral_seconds, calibration)
        out["rows"] = score_recording(rec, spec, ctx["models"], cfg, ref)
        out["duration"] = rec.total / spec.model_fps
    except InputError as exc:
        msg = str(exc)
        out["error"] = msg if str(path) in msg else f"{path}: {msg}"
    return out


def output_dir(source: str) -> Path:
    """``reports/predict/<source>`` for an input inside the repository (as DVC names it)."""
    rel = Path(source)
    if rel.is_absolute() or ".." in rel.parts:
        raise SystemExit(f"stages.predict: {source}: inputs must be paths inside the repository "
                         f"(DVC declares reports/predict/<input> as the output); link or copy "
                         f"the recordings into the project")
    return PREDICT_DIR / rel


def write_outputs(results: list[dict[str, Any]], out: Path, source: str, params: dict[str, Any],
                  models: list[FoldModel], spec: FeatureSpec, cfg: PredictConfig,
                  problems: ProblemLog) -> pd.DataFrame:
    """The per-recording CSVs and timelines, ``summary.csv``, ``problems.csv`` and
    ``settings.json`` of ``results`` (from :func:`score_one`), swapped into ``out`` as a whole;
    returns the summary. Failures and notes of the recordings are added to ``problems``."""
    first = models[0]
    remove_stale_temps(out)
    tmp = out.parent / temp_prefix(out)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    summary = []
    try:
        for res in results:
            name, path = res["name"], res["path"]
            for problem, action in res["notes"]:
                problems.add(path, problem, action, name, fatal_ok=False)
            if res["rows"] is None:
                problems.add(path, res["error"].removeprefix(f"{path}: "), "skipped", name,
                             fatal_ok=False)
                summary.append(failed_row(name, str(path), res["error"]))
                continue
            write_csv(res["rows"], tmp / f"{name}.csv")
            plot_timeline(res["rows"], tmp / f"{name}.png", name)
            summary.append(summary_row(name, str(path), res["rows"], res["duration"]))
        table = pd.DataFrame(summary, columns=list(dict.fromkeys(
            ["recording", "file", "status", "duration_s", "windows", "padded",
             *[f"p_{c}" for c in first.exp.class_names], "top", "neutral", "problem"])))
        table["windows"] = table["windows"].astype("Int64")
        write_csv(table, tmp / "summary.csv")
        problems.write(tmp / "problems.csv")
        settings = {
            "input": source, "models": [str(m.path) for m in models],
            "folds": [m.fold for m in models], "modalities": first.modalities,
            "classes": list(first.exp.class_names), "feature_settings": first.features,
            "feature_settings_from": first.feature_source,
            "frames": spec.count, "model_fps": spec.model_fps,
            "predict": {k: v for k, v in get(params, "predict").items() if k != "inputs"},
            "neutral": cfg.neutral, "track": get(params, "track", {}),
        }
        (tmp / "settings.json").write_text(json.dumps(settings, indent=2, default=str) + "\n")
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return table


def predict_input(source: str, params: dict[str, Any], out: Path | None = None) -> pd.DataFrame:
    """Score every recording of ``source`` and write the outputs (default
    ``reports/predict/<source>``); prints one line and returns the summary."""
    t0 = time.perf_counter()
    out = output_dir(source) if out is None else Path(out)
    cfg = predict_config(params)
    problems = ProblemLog("predict")
    models = load_models(params, problems)
    first = models[0]
    spec = feature_spec(first.modalities, first.features, float(get(params, "predict.fps", 30)))
    track_cfg = get(params, "track", {})
    if spec.needs_video and track_cfg.get("backend", "embedded") != "embedded":
        raise SystemExit(f"stages.predict: track.backend is {track_cfg.get('backend')!r}; "
                         f"predict tracks new recordings with the embedded tracker only")
    tracker = TrackerSettings.from_params(track_cfg)
    src = Path(source)
    recordings = list_recordings(src, problems)
    jobs = max(1, compute_settings(params)["jobs"])
    # One intra-op thread per scoring call whatever compute.jobs: the thread count changes torch's
    # float summation order (posteriors moved in the 8th decimal between jobs 1 and 2), and a
    # window's scoring is small next to tracking, which the workers run in parallel.
    torch.set_num_threads(1)
    ctx = {"spec": spec, "cfg": cfg, "models": models, "tracker": tracker,
           "calibrations": Calibrations(tracker)}
    items = [{"name": n, "path": p, "ctx": ctx,
              "calibration": calibration_for(params, n, p, src)} for n, p in recordings]
    results = map_progress(score_one, items, jobs, f"predict {source}", prefer="threads")
    table = write_outputs(results, out, source, params, models, spec, cfg, problems)
    n_ok = sum(r["rows"] is not None for r in results)
    print(f"predict {source}: {n_ok}/{len(results)} recordings scored with "
          f"{len(models)} model(s) -> {out} ({len(problems.items)} problems, "
          f"{time.perf_counter() - t0:.1f} s)")
    return table
