"""Standalone embedded tracker, like OpenFace's ``FeatureExtraction -f``.

    python -m features.tracker VIDEO [VIDEO ...] -o OUT_DIR [--neutral VIDEO] [--jobs N]
    hmd-track VIDEO ... -o OUT_DIR            # the same, as a console script

Writes ``OUT_DIR/<video stem>.csv`` (OpenFace 2.2 format, 714 columns) and
``OUT_DIR/<video stem>.report.json`` (AU baseline, low-confidence frames, person switches, AUs
not followed) per video. Settings are the ``track`` section of ``--params`` (default
``params.yaml`` in the current folder when it exists, else the built-in defaults); every
setting can be overridden by its flag (``--min-confidence 0.5``...). ``--neutral`` re-bases
every video's AUs on that clip (e.g. the actor's neutral recording); without it each video
uses its own baseline (the report says which). A video that cannot be read is reported on
stderr and skipped; the exit status is 1 when any video failed. A truncated video (fewer frames
decode than its container declares) is tracked as far as it decodes, with a warning on stderr
giving frames decoded / declared; every report carries ``frames_decoded``, ``frames_declared``
and ``truncated``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from features.core.config import read_yaml
from features.core.parallel import map_progress
from features.media.video import VideoError, probe_media, truncation
from features.tracker.embedded import EmbeddedResult, TrackerSettings, rebase_aus, track_video
from features.tracker.jobs import note_declared, write_embedded


def _settings(args: argparse.Namespace) -> TrackerSettings:
    track: dict[str, Any] = {}
    params = Path(args.params) if args.params else Path("params.yaml")
    if params.exists():
        loaded = read_yaml(params) or {}
        track = dict(loaded.get("track") or {})
    elif args.params:
        raise SystemExit(f"{params}: params file not found")
    for f in dataclasses.fields(TrackerSettings):
        v = getattr(args, f.name, None)
        if v is not None:
            track[f.name] = v
    return TrackerSettings.from_params(track)


def _track_one(path: str, settings: TrackerSettings) -> EmbeddedResult | str:
    """Track one video (its container's declared frame count noted for the report), or the reason
    it cannot be tracked."""
    try:
        probe = probe_media(path)
        result = track_video(path, probe.fps, settings)
    except (VideoError, OSError) as exc:
        return f"{path}: cannot track: {exc}"
    note_declared(result, probe.header_frames)
    return result


def truncation_warning(video: str, result: EmbeddedResult) -> str | None:
    """The warning line for a video with fewer frames decoded than its container declares, or None."""
    info = result.info
    cut = truncation(int(info["frames"]), int(info.get("frames_declared", 0)))
    if cut is None:
        return None
    return (f"{video}: warning: {cut} (frames decoded / declared by the container: "
            f"{info['frames']} / {info['frames_declared']}); only the frames that decode are tracked")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m features.tracker",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+", help="video files")
    parser.add_argument("-o", "--out-dir", required=True, help="output folder")
    parser.add_argument("--params", default="", help="params.yaml whose track section to use")
    parser.add_argument("--neutral", default="", help="neutral clip to take the AU baseline from")
    parser.add_argument("--jobs", type=int, default=1, help="videos tracked in parallel")
    for f in dataclasses.fields(TrackerSettings):
        kind = type(f.default)
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind, default=None,
                            help=f"track.{f.name} (default from params, else {f.default})")
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
    except ValueError as exc:
        parser.error(str(exc))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stems = [Path(v).stem for v in args.videos]
    dup = {s for s in stems if stems.count(s) > 1}
    if dup:
        parser.error(f"several videos named {sorted(dup)}: their CSVs would overwrite each other")
    if args.jobs > 1:
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")
    fn = functools.partial(_track_one, settings=settings)
    todo = list(args.videos) + ([args.neutral] if args.neutral else [])
    results = map_progress(fn, todo, args.jobs, "track")
    base, source = None, ""
    if args.neutral:
        ref = results.pop()
        if isinstance(ref, str):
            print(ref, file=sys.stderr)
            return 1
        if warning := truncation_warning(args.neutral, ref):
            print(warning, file=sys.stderr)
        base = ref.own_baseline()
        source = (f"neutral clip {args.neutral}: {settings.baseline_percentile:g}th percentile "
                  f"per AU over its {int(ref.track.success.sum())} tracked frames")
    failed = 0
    for video, res in zip(args.videos, results):
        if isinstance(res, str):
            print(res, file=sys.stderr)
            failed += 1
            continue
        if base is not None:
            rebase_aus(res, base, source)
        if warning := truncation_warning(video, res):
            print(warning, file=sys.stderr)
        write_embedded(res, out / f"{Path(video).stem}.csv")
        i = res.info
        print(f"{video}: {i['tracked']}/{i['frames']} frames tracked, "
              f"{i['low_confidence_fraction']:.1%} low confidence, "
              f"{i['person_switches']} person switch(es) -> {out / Path(video).stem}.csv")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
