"""Track one actor's clips into OpenFace-schema CSVs (the ``track`` stage's work).

:func:`track_actor` runs the backend of ``track.backend`` on every clip of the actor's manifest
slice in parallel (``compute.jobs``), re-bases the embedded tracker's AUs on the actor's neutral
reference clip (``track.au_baseline``), records problems and moves the finished folder into place
atomically. Backends:

* ``embedded`` (default, offline): dlib + 3D mean face (:mod:`features.tracker.embedded`). AUs are
  measured against a neutral baseline: ``track.au_baseline: neutral_ref`` (default) uses the
  tracked frames of the actor's neutral clip for the same statement (the manifest's
  ``neutral_ref``), so an expression held through a whole clip still shows; clips without a
  tracked neutral reference, and ``au_baseline: video``, use a low percentile per AU of their
  own frames; the problems report says which baseline each clip got.
* ``openface``: a real ``FeatureExtraction`` binary (``track.openface_bin``, a path or a command
  prefix, with ``track.openface_args``).
* ``precomputed``: CSVs under ``track.precomputed_dir`` (any depth), matched by video id.

CSVs are written into a temporary folder beside the output and moved into place when every video
is done (:func:`features.core.atomic.replace_dir`), so a killed run never leaves a half-written
folder.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from features.core.atomic import remove_stale_temps, replace_dir, temp_prefix
from features.core.config import get
from features.core.manifest import read_manifest
from features.core.parallel import compute_settings, map_progress
from features.core.paths import actor_dir, openface_actor_dir, problems_csv
from features.core.problems import ProblemLog
from features.tracker import jobs
from features.tracker.embedded import TrackerSettings, au_models_for
from features.tracker.external import find_openface, index_csvs


def _items(manifest) -> list[dict[str, Any]]:
    cols = ["video_id", "path", "fps", "frames", "neutral_ref"]
    return [dict(zip(cols, row)) for row in manifest[cols].itertuples(index=False, name=None)]


def track_actor(actor: int, params: dict[str, Any], manifest_path: Path | None = None,
        out_root: Path | None = None, problems_path: Path | None = None) -> ProblemLog:
    """Track every clip of ``actor``; return the problems log (already written)."""
    track = get(params, "track")
    backend = track.get("backend", "embedded")
    au_baseline = track.get("au_baseline", "neutral_ref")
    fail = get(params, "dataset.on_error", "skip") == "fail"
    compute = compute_settings(params)
    manifest = read_manifest(actor, path=manifest_path)
    final = openface_actor_dir(actor) if out_root is None else Path(out_root) / actor_dir(actor)
    problems_path = problems_csv(f"track/{actor_dir(actor)}") if problems_path is None else problems_path
    problems = ProblemLog("track", fail=fail)
    items = _items(manifest)
    remove_stale_temps(final)  # folders of runs killed outright (SIGKILL) are removed here
    tmp = final.parent / temp_prefix(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if backend == "embedded":
            settings = TrackerSettings.from_params(track)
            au_models_for(settings)        # a named model folder without models fails here, once
            single = compute["jobs"] > 1
            for it in items:
                it["single_thread_decode"] = single
            fn = functools.partial(jobs.embedded_job, settings=settings)
        elif backend == "openface":
            binary = find_openface(track.get("openface_bin", "FeatureExtraction"))
            fn = functools.partial(jobs.openface_job, binary=binary, out_dir=str(tmp),
                                   extra_args=[str(a) for a in track.get("openface_args") or []])
        else:
            index = index_csvs(track.get("precomputed_dir", ""))
            for it in items:
                it["sources"] = [str(p) for p in index.get(it["video_id"], [])]
            fn = functools.partial(_precomputed, out_dir=str(tmp),
                                   row_tolerance=int(track.get("row_tolerance", 2)))
        results = map_progress(fn, items, compute["jobs"], f"track {actor_dir(actor)} ({backend})",
                               compute["backend"], compute["scheduler_address"])
        for res in results:
            for problem, action, fatal in res.problems:
                problems.add(res.path, problem, action, res.video_id, fatal_ok=fatal)
        if backend == "embedded":
            _write_embedded(results, items, au_baseline, tmp, problems)
        replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    problems.write(problems_path)
    return problems


def _precomputed(item: dict[str, Any], out_dir: str, row_tolerance: int = 2) -> jobs.JobResult:
    return jobs.precomputed_job(item, item.get("sources", []), out_dir, row_tolerance)


def _write_embedded(results: Sequence[jobs.JobResult], items: Sequence[dict[str, Any]],
                    au_baseline: str, out_dir: Path, problems: ProblemLog) -> None:
    """Re-base AUs on the neutral reference clip where there is one, then write the CSVs (and
    their companion reports) and report baseline, confidence and person switches per clip."""
    by_id = {r.video_id: r for r in results if r.embedded is not None}
    refs = {it["video_id"]: it.get("neutral_ref") or "" for it in items}
    for vid, res in sorted(by_id.items()):
        if au_baseline == "neutral_ref":
            jobs.rebase_on_neutral(res, by_id.get(refs.get(vid, "")), refs.get(vid, ""))
        else:
            jobs.own_baseline_chosen(res)
        for problem, action, fatal in jobs.embedded_report_rows(res.embedded):
            problems.add(res.path, problem, action, vid, fatal_ok=fatal)
        jobs.write_embedded(res.embedded, out_dir / f"{vid}.csv")


