"""Ingest: find RAVDESS clips under ``dataset.root``, decode their names, probe them, build the manifest.

Input layouts: ``Actor_XX/`` folders of clips, or the official zip archives
(``Video_Speech_Actor_XX.zip``, ``Audio_Speech_Actors_01-24.zip``), extracted safely (absolute and
``..`` member paths are rejected and reported) into ``data/raw/``. With ``dataset.media: video``
the audio-video speech clips (``01-01-*.mp4``) enter the manifest; with ``audio`` the audio-only
speech files (``03-01-*.wav``, mono or stereo). Video-only (``02-``) and song (``-02-``) files are
counted and skipped. Every other file that cannot be used is listed with its reason in the problems
report (or stops the stage with ``dataset.on_error: fail``). A truncated clip (fewer frames decode
than its container declares, :func:`features.media.video.truncation`) is kept, its decodable
frames being usable, and reported as ``truncated: <decoded> of <declared> frames decode``.
"""

from __future__ import annotations

import dataclasses
import re
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from features.core.hashing import sha256_file
from features.core.manifest import COLUMNS
from features.core.problems import ProblemLog
from features.core.ravdess import NameError_, fold_of_actor, neutral_reference_id, parse_name, validate_folds
from features.media.audio import NO_AUDIO
from features.media.video import VideoError, probe_media, truncation

MEDIA = {"video": {"suffixes": {".mp4"}, "modality": 1},
         "audio": {"suffixes": {".wav"}, "modality": 3}}


@dataclasses.dataclass
class IngestSummary:
    """Counts written to reports/ingest.json (and shown by `dvc metrics show`)."""

    files_seen: int = 0
    clips: int = 0
    skipped_other_modality: int = 0
    skipped_song: int = 0
    skipped_other_actor: int = 0
    problems: int = 0


def safe_member_path(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it is absolute or climbs out with ``..``."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
        return None
    return p


def extract_zips(root: Path, dest: Path, suffixes: set[str], problems: ProblemLog) -> list[Path]:
    """Extract the media members of every ``*.zip`` in ``root`` into ``dest``; unsafe members are reported."""
    out: list[Path] = []
    for zpath in sorted(root.glob("*.zip")):
        try:
            zf = zipfile.ZipFile(zpath)
        except zipfile.BadZipFile as exc:
            problems.add(zpath, f"not a readable zip archive ({exc})")
            continue
        with zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if info.is_dir():
                    continue
                rel = safe_member_path(info.filename)
                if rel is None:
                    problems.add(zpath, f"unsafe member path {info.filename!r} (absolute or '..'); "
                                        "not extracted")
                    continue
                if rel.suffix.lower() not in suffixes:
                    continue
                target = dest / zpath.stem / Path(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
                out.append(target)
    return out


def find_media(root: Path, suffixes: set[str]) -> list[Path]:
    """Media files anywhere below ``root`` (sorted; hidden files and folders ignored)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


_ACTOR_FOLDER = re.compile(r"Actor_(\d+)")


def _folder_actor(path: Path) -> int | None:
    """Actor number of the nearest ``Actor_XX`` folder above ``path``, copies such as
    ``Actor_01 copy`` or ``Actor_01 (1)`` included (a mislabelled clip in a duplicated actor
    folder must not pass as the actor its name claims)."""
    for part in reversed(path.parent.parts):
        m = _ACTOR_FOLDER.match(part)
        if m:
            return int(m.group(1))
    return None


def probe_row(path: Path) -> dict[str, Any]:
    """Probe one file: media facts + fingerprint, or ``{"error": message}``."""
    try:
        p = probe_media(path)
    except VideoError as exc:
        return {"error": str(exc)}
    return {"frames": p.frames, "fps": p.fps, "width": p.width, "height": p.height,
            "duration_s": p.duration_s, "audio_rate": p.audio_rate,
            "audio_channels": p.audio_channels, "header_frames": p.header_frames,
            "fingerprint": sha256_file(path)}


def build_manifest(root: Path, raw_dir: Path, media: str, actors: list[int], folds: list[list[int]],
                   min_frames: int, problems: ProblemLog,
                   map_fn: Callable[[Callable, list], list] | None = None,
                   require_audio: bool = True) -> tuple[pd.DataFrame, IngestSummary]:
    """Find, check and probe clips; returns the manifest (one row per usable clip) and counts.

    ``map_fn(fn, items)`` runs the per-file probe (parallel in the stage, serial by default).
    Video clips without an audio stream are skipped (reported) when ``require_audio``; otherwise
    (visual-only experiments) they are kept with ``audio_rate = audio_channels = 0`` in the
    manifest, reported as kept, and the audio stages refuse them (:func:`no_audio_problem`).
    """
    validate_folds(folds)
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"dataset.root {root} does not exist")
    suffixes = MEDIA[media]["suffixes"]
    files = find_media(root, suffixes) + extract_zips(root, raw_dir, suffixes, problems)
    summary = IngestSummary(files_seen=len(files))
    wanted = set(actors)
    candidates: list[tuple[Path, Any]] = []
    seen: dict[str, Path] = {}
    for path in files:
        try:
            clip = parse_name(path)
        except NameError_ as exc:
            problems.add(path, str(exc).split(": ", 1)[-1])
            continue
        if clip.modality != MEDIA[media]["modality"]:
            summary.skipped_other_modality += 1
            continue
        if clip.vocal_channel != 1:
            summary.skipped_song += 1
            continue
        if clip.actor not in wanted:
            summary.skipped_other_actor += 1
            continue
        folder = _folder_actor(path)
        if folder is not None and folder != clip.actor:
            problems.add(path, f"mislabelled: the name says actor {clip.actor:02d} but the file is in "
                               f"Actor_{folder:02d}", video_id=clip.video_id)
            continue
        if clip.video_id in seen:
            problems.add(path, f"duplicate video id {clip.video_id} (kept {seen[clip.video_id]})",
                         video_id=clip.video_id)
            continue
        seen[clip.video_id] = path
        candidates.append((path, clip))

    probes = (map_fn or (lambda fn, items: [fn(i) for i in items]))(probe_row, [p for p, _ in candidates])
    rows = []
    for (path, clip), probe in zip(candidates, probes):
        if "error" in probe:
            problems.add(path, probe["error"].split(": ", 1)[-1], video_id=clip.video_id)
            continue
        if probe["audio_rate"] == 0:
            if require_audio or media != "video":
                problems.add(path, NO_AUDIO, video_id=clip.video_id)
                continue
            problems.add(path, NO_AUDIO, action="kept: visual-only run (dataset.require_audio: "
                         "false); audio stages refuse it", video_id=clip.video_id, fatal_ok=False)
        if media == "video":
            if probe["frames"] < min_frames:
                problems.add(path, f"too short: {probe['frames']} frames < dataset.min_frames "
                                   f"{min_frames}", video_id=clip.video_id)
                continue
            cut = truncation(probe["frames"], probe["header_frames"])
            if cut:
                problems.add(path, cut, action="kept: the frames that decode are used",
                             video_id=clip.video_id)
        row = clip.as_row()
        row.update({k: v for k, v in probe.items() if k != "header_frames"})
        row.update(path=str(path), label=clip.emotion - 1, actor_dir=f"Actor_{clip.actor:02d}",
                   fold=fold_of_actor(clip.actor, folds))
        rows.append(row)
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "neutral_ref"])
    ids = set(df["video_id"])
    df["neutral_ref"] = [neutral_reference_id(parse_name(v)) if neutral_reference_id(parse_name(v)) in ids
                         else "" for v in df["video_id"]]
    for vid in df.loc[df["neutral_ref"] == "", "video_id"]:
        problems.add(seen[vid], "the actor's first-repetition neutral clip with the same statement "
                                "is missing (key-point normalisation falls back, see kpd)",
                     action="kept", video_id=vid, fatal_ok=False)
    df = df.sort_values("video_id").reset_index(drop=True)
    summary.clips = len(df)
    summary.problems = len(problems.items)
    return df[COLUMNS], summary
