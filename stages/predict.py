"""Stage predict: apply the trained fold models to any recordings, offline or live.

Offline (the DVC stage, one per entry of ``predict.inputs``; the empty default list defines no
stage): ``python -m stages.predict INPUT`` scores every video (or audio file, for audio-only
models) under the folder ``INPUT`` (or the one file), with any names, no labels, and writes
into ``reports/predict/<INPUT>/``:

* ``<recording>.csv``: a ``clip`` row (probability per emotion and the top class for the whole
  recording) then one ``window`` row per sliding window (start/end time, probabilities);
* ``<recording>.png``: the probabilities over time;
* ``summary.csv``: one row per recording (scored or failed, with the reason);
* ``problems.csv``: every file that could not be scored and every fallback, naming the file;
* ``settings.json``: models, folds, feature settings and the predict params used.

Live: ``python -m stages.predict --live SOURCE`` (camera index, stream URL or a video file
played at its own frame rate) prints one line per hop and appends it to ``predict.live.csv``
(see :mod:`features.predict.live`).

Models: ``data/models/fold_K/model.pt``; the posteriors of every fold are averaged, or one fold
is used (``predict.fold``). Features are computed with the settings the checkpoints record.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from features.core.atomic import remove_stale_temps, replace_dir, temp_prefix
from features.core.config import get, load_params
from features.core.parallel import compute_settings, map_progress
from features.core.paths import MODELS_DIR, REPORTS
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
from models.predict import (
    CheckpointError,
    FoldModel,
    PredictConfig,
    load_fold_model,
    score_recording,
    unsupported_features,
)

log = logging.getLogger("stages.predict")

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


def load_models(params: dict[str, Any], problems: ProblemLog) -> list[FoldModel]:
    """The fold models (``predict.fold``: all or K). An unusable checkpoint is reported and the
    other folds are used; the stage stops only when none is usable or they disagree."""
    fold = str(get(params, "predict.fold", "all"))
    root = Path(get(params, "predict.models", str(MODELS_DIR)))
    paths = sorted(root.glob("fold_*/model.pt")) if fold == "all" else \
        [root / f"fold_{int(fold)}" / "model.pt"]
    if not paths:
        raise SystemExit(f"stages.predict: {root}: no fold_K/model.pt (run `dvc repro train`)")
    models = []
    for path in paths:
        try:
            models.append(load_fold_model(path))
        except CheckpointError as exc:
            problems.add(path, str(exc), "model not used", fatal_ok=False)
    if not models:
        raise SystemExit("stages.predict: no usable model:\n  " +
                         "\n  ".join(p.problem for p in problems.items))
    first = models[0]
    for m in models[1:]:
        if (m.modalities, m.exp.class_names, m.features) != \
                (first.modalities, first.exp.class_names, first.features):
            raise SystemExit(f"stages.predict: {m.path} and {first.path} were trained on "
                             f"different features, classes or settings; set predict.fold")
    bad = unsupported_features(first.modalities)
    if bad:
        raise SystemExit(f"stages.predict: the models ({first.path}, ...) use {', '.join(bad)}, "
                         f"which predict cannot compute from a recording (it computes kpd_face, "
                         f"kpd_eyes, lms, mfcc); train on those features to predict")
    return models


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


def run(source: str, params: dict[str, Any], out: Path | None = None) -> pd.DataFrame:
    """Score every recording of ``source`` and write the outputs; returns the summary."""
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
    compute = compute_settings(params)
    jobs = max(1, compute["jobs"])
    torch.set_num_threads(1 if jobs > 1 else torch.get_num_threads())
    ctx = {"spec": spec, "cfg": cfg, "models": models, "tracker": tracker,
           "calibrations": Calibrations(tracker)}
    items = [{"name": n, "path": p, "ctx": ctx,
              "calibration": calibration_for(params, n, p, src)} for n, p in recordings]
    results = map_progress(score_one, items, jobs, f"predict {source}", prefer="threads")

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
            "neutral": cfg.neutral, "track": track_cfg,
        }
        (tmp / "settings.json").write_text(json.dumps(settings, indent=2, default=str) + "\n")
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n_ok = sum(r["rows"] is not None for r in results)
    print(f"predict {source}: {n_ok}/{len(results)} recordings scored with "
          f"{len(models)} model(s) -> {out} ({len(problems.items)} problems, "
          f"{time.perf_counter() - t0:.1f} s)")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.predict",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("input", nargs="?", help="folder or file of recordings (offline)")
    ap.add_argument("--live", metavar="SOURCE",
                    help="camera index, stream URL or video file (played in real time)")
    ap.add_argument("--no-pace", action="store_true",
                    help="live from a file: read frames as fast as they are processed")
    ap.add_argument("--csv", help="live: CSV the lines are appended to (default predict.live.csv)")
    ap.add_argument("--seconds", type=float, default=0.0, help="live: stop after this long")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    params = load_params(args.params)
    if args.live is not None:
        from features.predict.live import run_live_cli

        return run_live_cli(args.live, params, args.csv, pace=not args.no_pace,
                            seconds=args.seconds, load_models=load_models)
    if not args.input:
        ap.error("give an INPUT folder/file, or --live SOURCE")
    run(args.input, params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
