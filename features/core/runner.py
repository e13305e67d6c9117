"""The one per-actor runner of the feature stages: load each clip's inputs once, compute every
feature the stage asks for from them, in parallel, and write the outputs atomically.

A stage describes

* a :class:`Source`: what one clip needs (an OpenFace CSV parsed, audio samples decoded, ...),
  how to load it (``load(clip, config) -> inputs``), the file problems are reported against,
  and which exceptions mean "this clip's input is unusable" (reported, clip skipped) rather than
  a bug (which propagates with its traceback);
* :class:`Feature` s: pure functions ``compute(inputs, config) -> (Output | None, notes)``, one
  per output file (``data/features/<name>/Actor_XX.h5``), plus an optional actor-level
  ``finish`` step for features that combine clips (KPD's neutral reference clip).

:func:`run_actor` then reads the actor's manifest slice, runs one task per clip (the inputs are
loaded once for all features; ``compute.jobs`` workers, loky threads or a Dask cluster, with a
progress bar), turns notes into each feature's problems report
(``reports/problems/<name>/Actor_XX.csv``) and writes each feature file through the one HDF5
writer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.core.atomic import remove_stale_temps, temp_prefix
from features.core.config import get
from features.core.manifest import read_manifest
from features.core.parallel import compute_settings, map_progress
from features.core.paths import actor_dir, feature_file, problems_csv
from features.core.problems import ProblemLog
from features.core.store import FeatureRecord, write_feature_file

Note = tuple[str, str, bool]  # (problem, action, fatal): fatal notes stop a stage on_error: fail


@dataclasses.dataclass(frozen=True)
class Clip:
    """One manifest row, as the runner hands it to a source's loader."""

    video_id: str
    actor: int
    media: str                 # media file (video or audio)
    frames: int                # decodable video frames (0 for audio files)
    fps: float
    fingerprint: str           # sha256 of the media file
    neutral_ref: str           # id of the actor's neutral reference clip ("" if none)
    audio_rate: int            # native audio sample rate (0 if unknown)
    audio_channels: int | None


def clips_of(manifest: pd.DataFrame) -> list[Clip]:
    """The manifest's rows as :class:`Clip` s (in manifest order)."""
    def opt(row: Any, name: str) -> Any:
        value = getattr(row, name, None)
        return None if value is None or (isinstance(value, float) and np.isnan(value)) else value
    return [Clip(str(r.video_id), int(r.actor), str(r.path), int(opt(r, "frames") or 0),
                 float(opt(r, "fps") or 0.0), str(opt(r, "fingerprint") or ""),
                 str(opt(r, "neutral_ref") or ""), int(opt(r, "audio_rate") or 0),
                 int(opt(r, "audio_channels") or 0) or None)
            for r in manifest.itertuples(index=False)]


@dataclasses.dataclass
class Output:
    """One clip's value of one feature (``extra``: anything ``finish`` needs besides it)."""

    data: np.ndarray
    valid: np.ndarray | None = None
    frame_indices: np.ndarray | None = None
    source: str | None = None  # None: the inputs' source (their ``source`` attribute)
    extra: Any = None


@dataclasses.dataclass(frozen=True)
class Source:
    """What each clip needs and how to load it once (see the module docstring)."""

    load: Callable[[Clip, Any], Any]            # -> inputs (with ``source`` and ``notes``)
    path: Callable[[Clip], str | Path]          # the file named in problem reports
    errors: tuple[type[BaseException], ...]     # a bad input: reported, the clip skipped
    config: Any = None
    summary: Callable[[Any], Any] | None = None  # small per-clip value handed to ``finish``
    precheck: Callable[[list[Clip]], None] | None = None  # runs once before any clip


Finish = Callable[[dict[str, Output], list[Clip], dict[str, Any], Any,
                   Callable[[str | Path, str, str, str, bool], None]], dict[str, Output]]


@dataclasses.dataclass(frozen=True)
class Feature:
    """One output file's recipe: ``compute(inputs, config) -> (Output | None, notes)``.

    ``finish(outputs, clips, summaries, config, report)`` (optional) runs once per actor on the
    clips' outputs (by video id) and returns the outputs to write; ``report(path, problem,
    action, video_id, fatal)`` adds to the feature's problems report. A recipe that cuts several
    outputs from the same work (the three crops of a frame) names them in ``outputs`` and
    returns ``{output name: Output}``; its notes go to one problems report named ``name``.
    """

    name: str
    compute: Callable[[Any, Any], tuple[Output | dict[str, Output] | None, list[Note]]]
    config: Any = None
    file_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    finish: Finish | None = None
    outputs: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        return self.outputs or (self.name,)


def _spill(value: Output | dict[str, Output], folder: str, video_id: str, feature: str) -> None:
    """Move each output's array to ``folder/<video id>.<output>.npy`` (the data becomes the path)."""
    for name, out in (value.items() if isinstance(value, dict) else [(feature, value)]):
        path = str(Path(folder) / f"{video_id}.{name}.npy")
        np.save(path, out.data)
        out.data = path


def _clip_task(task: tuple[Clip, Source, tuple[Feature, ...], str | None]
               ) -> tuple[dict[str, tuple[Any, list[Note]]], str, Any]:
    """Load one clip's inputs once and compute every feature from them (runs in a worker)."""
    clip, source, features, scratch = task
    try:
        inputs = source.load(clip, source.config)
    except source.errors as exc:
        note: list[Note] = [(str(exc), "skipped", True)]
        return {f.name: (None, note) for f in features}, "", exc
    shared = list(getattr(inputs, "notes", []))
    out: dict[str, tuple[Output | None, list[Note]]] = {}
    for f in features:
        try:
            value, notes = f.compute(inputs, f.config)
        except source.errors as exc:
            value, notes = None, [(str(exc), "skipped", True)]
        if value is not None and scratch:
            _spill(value, scratch, clip.video_id, f.name)
        out[f.name] = (value, shared + list(notes) if value is not None else list(notes))
    summary = source.summary(inputs) if source.summary is not None else None
    return out, str(getattr(inputs, "source", "")), summary


@contextlib.contextmanager
def scratch_folder(stage: str, actor: int, use: bool):
    """A temporary folder for spilled arrays (None when ``use`` is false), named after this
    process so that the next run removes those of runs killed outright (SIGKILL)."""
    if not use:
        yield None
        return
    base = Path(tempfile.gettempdir()) / f"{stage}-{actor_dir(actor)}"
    remove_stale_temps(base)
    with tempfile.TemporaryDirectory(prefix=f"{temp_prefix(base)}-") as tmp:
        yield tmp


def run_actor(stage: str, actor: int, params: dict[str, Any], source: Source,
              features: Sequence[Feature], manifest: pd.DataFrame | None = None,
              where: str = "", spill: bool = False, prefer: str = "threads") -> dict[str, int]:
    """Compute ``features`` for every clip of ``actor`` and write them; returns clips written
    per output file. ``dataset.on_error: fail`` turns the first fatal note into a StageFailure
    (nothing is written then).

    ``spill``: workers save each clip's arrays as ``.npy`` files in a scratch folder and the
    HDF5 writer reads them memory-mapped, which keeps memory flat for large outputs (image
    crops); with a Dask cluster, whose workers do not share that folder, arrays travel back in
    memory. ``prefer``: ``threads`` or ``processes`` for local workers (see map_progress).
    """
    comp = compute_settings(params)
    with scratch_folder(stage, actor, spill and comp["backend"] != "dask") as scratch:
        return _run(stage, actor, params, source, features, manifest, where, scratch, prefer, comp)


def _run(stage: str, actor: int, params: dict[str, Any], source: Source,
         features: Sequence[Feature], manifest: pd.DataFrame | None, where: str,
         scratch: str | None, prefer: str, comp: dict[str, Any]) -> dict[str, int]:
    t0 = time.perf_counter()
    clips = clips_of(read_manifest(actor) if manifest is None else manifest)
    if source.precheck is not None:
        source.precheck(clips)
    fail = get(params, "dataset.on_error", "skip") == "fail"
    tasks = [(clip, source, tuple(features), scratch) for clip in clips]
    results = map_progress(_clip_task, tasks, desc=f"{stage} {actor_dir(actor)}",
                           prefer=prefer, **comp)
    summaries = {clip.video_id: summary for clip, (_, _, summary) in zip(clips, results)}
    logs: dict[str, ProblemLog] = {}
    records: dict[str, list[FeatureRecord]] = {}
    for f in features:
        problems = logs[f.name] = ProblemLog(f.name, fail=fail)
        outputs: dict[str, dict[str, Output]] = {name: {} for name in f.files}
        for clip, (per_feature, src, _) in zip(clips, results):
            value, notes = per_feature[f.name]
            for problem, action, fatal in notes:
                problems.add(source.path(clip), problem, action, clip.video_id, fatal_ok=fatal)
            for name, out in (value.items() if isinstance(value, dict) else [(f.name, value)]):
                if out is None:
                    continue
                if out.source is None:
                    out.source = src
                if isinstance(out.data, str):  # spilled to the scratch folder
                    out.data = np.load(out.data, mmap_mode="r")
                outputs[name][clip.video_id] = out
        if f.finish is not None:
            def report(path: str | Path, problem: str, action: str, video_id: str, fatal: bool,
                       _log: ProblemLog = problems) -> None:
                _log.add(path, problem, action, video_id, fatal_ok=fatal)
            outputs[f.name] = f.finish(outputs[f.name], clips, summaries, f.config, report)
        for name, outs in outputs.items():
            records[name] = [FeatureRecord(vid, o.data, o.valid, o.frame_indices, o.source or "")
                             for vid, o in outs.items()]
    counts = {}
    for f in features:
        for name in f.files:
            counts[name] = write_feature(name, actor, records[name], f.file_params)
        logs[f.name].write(problems_csv(f"{f.name}/{actor_dir(actor)}"))
        files = ", ".join(str(feature_file(name, actor)) for name in f.files)
        print(f"{f.name} {actor_dir(actor)}: {counts[f.files[0]]}/{len(clips)} clips -> {files}"
              f"{where} ({len(logs[f.name].items)} problems, {time.perf_counter() - t0:.1f} s)")
    return counts


def write_feature(feature: str, actor: int, records: list[FeatureRecord],
                  file_params: dict[str, Any]) -> int:
    """Write one actor's feature file (``data/features/<feature>/Actor_XX.h5``); returns records."""
    write_feature_file(feature_file(feature, actor), feature, records, file_params, actor=int(actor))
    return len(records)


def write_outputs(feature: str, actor: int, records: list[FeatureRecord], n_clips: int,
                  file_params: dict[str, Any], problems: ProblemLog, t0: float,
                  where: str = "") -> int:
    """Write one actor's feature file and problems CSV, print a summary; returns records written."""
    out = write_feature_file(feature_file(feature, actor), feature, records, file_params,
                             actor=int(actor))
    problems.write(problems_csv(f"{feature}/{actor_dir(actor)}"))
    print(f"{feature} {actor_dir(actor)}: {len(records)}/{n_clips} clips -> {out}{where} "
          f"({len(problems.items)} problems, {time.perf_counter() - t0:.1f} s)")
    return len(records)


def check_stored(data: np.ndarray, dtype: np.dtype, what: str, param: str) -> np.ndarray:
    """``data`` cast to the stored ``dtype``; ValueError when values overflow it (e.g. float16),
    naming ``what`` (file and clip) and the params key ``param`` to change."""
    stored = np.asarray(data).astype(dtype)
    if not np.isfinite(stored).all():
        raise ValueError(f"{what} overflow {np.dtype(dtype)} (max |x| {np.abs(data).max():.3g}); "
                         f"set {param}: float32")
    return stored
