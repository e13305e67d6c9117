"""One video through one track backend: the unit of work the track stage runs in parallel.

Each job returns a :class:`JobResult` instead of raising, so one bad video never stops the
others: the stage turns ``problems`` into problems-report rows (or a failure with
``dataset.on_error: fail``). Decisions on bad input:

* video that cannot be opened, or no frame decodes: no CSV, problem "skipped".
* fewer frames decode than the manifest counts: the frames that decode are tracked and written;
  problem "tracked the frames that decode".
* fewer frames decode than the container declares (a truncated file, already in ingest's problems
  report): tracked as it is; the clip's ``<id>.report.json`` carries ``frames_decoded``,
  ``frames_declared`` and ``truncated`` (:func:`note_declared`), as for every clip.
* no face in any frame: the CSV *is* written, every row ``success = 0`` (zeros elsewhere), and a
  problem is recorded. Keeping the file makes the failure visible downstream: features read it and
  report the clip (``frames.max_missing``) instead of meeting a silently missing file.
* some frames without a face: rows kept with ``success = 0``; a note (not an error) counts them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from features.core.atomic import atomic_path
from features.media.video import VideoError, declared_frames
from features.tracker.embedded import EmbeddedResult, TrackerSettings, rebase_aus, report, track_video
from features.tracker.external import OpenFaceBinaryError, import_precomputed, run_openface
from features.tracks.openface import OpenFaceError, write_openface


@dataclasses.dataclass
class JobResult:
    """Outcome for one video: ``written`` = a CSV is in the output folder (or, for the embedded
    backend, ``embedded`` holds the result for the stage to write after re-basing AUs);
    ``problems`` = ``(problem, action, fatal)`` tuples; ``info`` = counts and timings."""

    video_id: str
    path: str
    written: bool = False
    embedded: EmbeddedResult | None = None
    problems: list[tuple[str, str, bool]] = dataclasses.field(default_factory=list)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


def _check_counts(res: JobResult, n_rows: int, n_tracked: int, expected: int, source: str) -> None:
    if expected and n_rows < expected:
        res.problems.append((f"only {n_rows} of {expected} frames {source} (corrupt or truncated "
                             f"video?)", "tracked the frames that decode", True))
    if n_rows and n_tracked == 0:
        res.problems.append((f"no face found in any of the {n_rows} frames",
                             "written: every row success=0", True))
    elif n_tracked < n_rows:
        res.problems.append((f"{n_rows - n_tracked} of {n_rows} frames without a tracked face",
                             "kept as success=0 rows", False))


def note_declared(result: EmbeddedResult, declared: int) -> None:
    """Record the container's declared frame count in ``result.info`` (the report's
    ``frames_declared`` and ``truncated``, :func:`features.tracker.embedded.report`)."""
    result.info["frames_declared"] = int(declared)


def embedded_job(item: dict[str, Any], settings: TrackerSettings) -> JobResult:
    """Track one video with the embedded tracker (result returned, not written)."""
    res = JobResult(item["video_id"], item["path"])
    if item.get("single_thread_decode"):
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")
    try:
        out = track_video(item["path"], float(item.get("fps") or 30.0), settings)
        note_declared(out, declared_frames(item["path"]))
    except VideoError as exc:
        res.problems.append((f"cannot read video: {exc}", "skipped", True))
        return res
    except Exception as exc:  # a bug or a library error: stop, naming the video
        raise RuntimeError(f"{item['path']}: embedded tracking failed: {exc!r}") from exc
    res.embedded = out
    res.info = dict(out.info)
    _check_counts(res, out.track.n, int(out.track.success.sum()), int(item.get("frames") or 0),
                  "decode")
    return res


def openface_job(item: dict[str, Any], binary: list[str], out_dir: str,
                 extra_args: list[str] | None = None) -> JobResult:
    """Run FeatureExtraction (command prefix ``binary`` + ``extra_args``) on one video and leave
    its normalised CSV in ``out_dir``."""
    res = JobResult(item["video_id"], item["path"])
    out_csv = Path(out_dir) / f"{item['video_id']}.csv"
    try:
        track = run_openface(binary, item["path"], out_csv, extra_args=extra_args)
    except OpenFaceBinaryError as exc:
        res.problems.append((str(exc), "skipped", True))
        return res
    except OpenFaceError as exc:
        res.problems.append((f"OpenFace output unusable: {exc}", "skipped", True))
        return res
    res.written = True
    res.info = {"frames": track.n, "tracked": int(track.success.sum())}
    _check_counts(res, track.n, int(track.success.sum()), int(item.get("frames") or 0),
                  "in OpenFace's CSV")
    return res


def row_count_problem(n_rows: int, n_frames: int, tolerance: int, src: str) -> str | None:
    """Why a precomputed CSV of ``n_rows`` rows does not fit a video of ``n_frames`` frames (more
    than ``tolerance`` rows apart), or None. OpenFace writes one row per decoded frame, so a CSV
    with many more (or fewer) rows most likely belongs to another video or another cut."""
    if n_frames <= 0 or abs(n_rows - n_frames) <= tolerance:
        return None
    return (f"precomputed CSV {src} has {n_rows} rows but the video has {n_frames} frames "
            f"(difference {n_rows - n_frames:+d} > track.row_tolerance {tolerance}): probably "
            f"another video's CSV; refused")


def precomputed_job(item: dict[str, Any], sources: list[str], out_dir: str,
                    row_tolerance: int = 2) -> JobResult:
    """Validate and import one video's precomputed CSV into ``out_dir``; refuse it when its row
    count differs from the video's frame count by more than ``row_tolerance``."""
    res = JobResult(item["video_id"], item["path"])
    if not sources:
        res.problems.append(("no precomputed OpenFace CSV named "
                             f"{item['video_id']}.csv under track.precomputed_dir", "skipped", True))
        return res
    src = sources[0]
    if len(sources) > 1:
        res.problems.append((f"{len(sources)} precomputed CSVs for this video: {sources}",
                             f"used {src}", False))
    out_csv = Path(out_dir) / f"{item['video_id']}.csv"
    try:
        track = import_precomputed(src, out_csv)
    except OpenFaceError as exc:
        out_csv.unlink(missing_ok=True)
        res.problems.append((f"malformed precomputed CSV: {exc}", "skipped", True))
        return res
    expected = int(item.get("frames") or 0)
    refused = row_count_problem(track.n, expected, row_tolerance, src)
    if refused:
        out_csv.unlink(missing_ok=True)
        res.problems.append((refused, "skipped", True))
        return res
    if expected and track.n != expected:
        res.problems.append((f"precomputed CSV {src} has {track.n} rows for {expected} video "
                             f"frames (within track.row_tolerance {row_tolerance})",
                             "imported", False))
    res.written = True
    res.info = {"frames": track.n, "tracked": int(track.success.sum()), "source": src,
                "variant": track.variant}
    if track.missing:
        res.problems.append((f"precomputed CSV {src} lacks block(s) {', '.join(track.missing)} "
                             f"(variant {track.variant})", "imported as is; features needing "
                             "those blocks will fail", False))
    _check_counts(res, track.n, int(track.success.sum()), int(item.get("frames") or 0),
                  "in the precomputed CSV")
    return res


def write_embedded(result: EmbeddedResult, out_csv: str | Path) -> None:
    """Write an embedded result as a 714-column OpenFace CSV and its companion report
    ``<stem>.report.json`` beside it (:func:`features.tracker.embedded.report`)."""
    out_csv = Path(out_csv)
    write_openface(out_csv, result.track)
    with atomic_path(out_csv.with_suffix(".report.json")) as tmp:
        Path(tmp).write_text(json.dumps(report(result), indent=1) + "\n")


def rebase_on_neutral(res: JobResult, ref: JobResult | None, ref_id: str) -> None:
    """Re-base ``res``'s AUs on the neutral clip ``ref`` (its own tracked frames' baseline); when
    there is no usable reference the clip keeps its own fallback baseline, as its report says."""
    out = res.embedded
    if out.au_source != "geometric":
        return                       # OpenFace's AUs need no neutral clip (report says why)
    if ref is None or ref.embedded is None or ref is res:
        if ref is not None and ref is res:
            out.info["au_baseline"] = "neutral clip itself: " + out.info.get("au_baseline", "")
        elif ref_id:
            out.info["au_baseline"] = (f"{out.info.get('au_baseline', '')} (neutral reference "
                                       f"{ref_id} not tracked)")
        return
    base = ref.embedded.own_baseline()
    if base is None:
        out.info["au_baseline"] += f" (neutral reference {ref_id} has no tracked frame)"
        return
    pct = out.settings.baseline_percentile
    rebase_aus(out, base, f"neutral clip {ref_id}: {pct:g}th percentile per AU over its "
                          f"{int(ref.embedded.track.success.sum())} tracked frames")


def own_baseline_chosen(res: JobResult) -> None:
    """Note that the clip's own baseline was chosen (``track.au_baseline: video``), not a
    fallback."""
    info = res.embedded.info
    if res.embedded.au_source != "geometric":
        return
    info["au_baseline"] = info.get("au_baseline", "").replace(
        "fallback: ", "this clip (track.au_baseline: video): ", 1)


def embedded_report_rows(result: EmbeddedResult) -> list[tuple[str, str, bool]]:
    """Problems-report rows for one tracked clip: AU baseline used, low-confidence frames,
    person switches (``(problem, action, fatal)``)."""
    info = result.info
    low = info.get("low_confidence_fraction", 0.0)
    rows = [(f"AU baseline: {info.get('au_baseline', '')}; {low:.1%} of frames below "
             f"track.min_confidence; {info.get('person_switches', 0)} person switch(es); AUs from "
             f"{info.get('au_source', '')}", "noted", False)]
    if low > 0:
        runs = ", ".join(f"{a}-{b}" for a, b in info.get("low_confidence_runs", [])[:10])
        rows.append((f"{low:.1%} of frames below track.min_confidence (frames {runs})",
                     "kept as success=0 rows", False))
    if info.get("person_switches", 0):
        runs = ", ".join(f"{a}-{b}" for a, b in info.get("other_person_runs", [])[:10])
        rows.append((f"{info['person_switches']} person switch(es): another face in place of the "
                     f"tracked person (frames {runs})", "not followed: success=0 rows", False))
    return rows
