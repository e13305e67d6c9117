"""One clip's OpenFace track as input of :func:`features.core.runner.run_actor`: the CSV parsed and
hashed once (:func:`load_track`), the frames a feature stores selected from it
(:func:`select_frames`: the ``frames.count`` middle frames, untracked ones reported), and the
:class:`~features.core.runner.Source` of an actor's CSVs (:func:`openface_source`, which first
checks that the CSVs hold the blocks each feature needs).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from features.core.config import get
from features.core.hashing import sha256_file
from features.core.paths import actor_dir, openface_csv
from features.core.runner import Clip, Note, Source
from features.tracks.frames import (
    Selection,
    TrackError,
    clip_notes,
    require_blocks,
    select_tracked,
)
from features.tracks.openface import OpenFaceError, OpenFaceTrack, read_openface

TRACK_ERRORS = (OpenFaceError, TrackError, ValueError)


@dataclasses.dataclass
class TrackInputs:
    """One clip's OpenFace track, parsed once, and the CSV's fingerprint."""

    clip: Clip
    path: Path
    track: OpenFaceTrack
    sha256: str

    @property
    def source(self) -> str:
        return f"csv:{self.sha256}"


def load_track(clip: Clip, config: Any = None) -> TrackInputs:
    """Parse and hash ``data/openface/Actor_XX/<video id>.csv`` (OpenFaceError if absent)."""
    path = openface_csv(clip.video_id, clip.actor)
    if not path.exists():
        raise OpenFaceError(f"OpenFace CSV not found: {path}")
    return TrackInputs(clip, path, read_openface(path), sha256_file(path))


@dataclasses.dataclass(frozen=True)
class FrameSettings:
    count: int          # frames kept per clip (frames.count)
    max_missing: float  # fraction of untracked frames above which a clip is reported


def frame_settings(params: dict[str, Any]) -> FrameSettings:
    return FrameSettings(int(get(params, "frames.count")), float(get(params, "frames.max_missing")))


def select_frames(inputs: TrackInputs, frames: FrameSettings) -> tuple[Selection, list[Note]]:
    """The clip's stored frames and the notes on padding / untracked frames."""
    sel = select_tracked(inputs.track, inputs.clip.frames, frames.count)
    notes: list[Note] = [(p, a, False) for p, a in clip_notes(sel, inputs.clip.frames,
                                                               frames.max_missing)]
    return sel, notes


def openface_source(actor: int, needs: dict[str, list[str]], summary: Any = None) -> Source:
    """The OpenFace CSVs of ``actor``; first checks each feature's blocks are in the headers."""
    def precheck(clips: list[Clip]) -> None:
        paths = [openface_csv(c.video_id, actor) for c in clips]
        for feature, blocks in needs.items():
            require_blocks(paths, blocks, feature, actor_dir(actor))
    return Source(load_track, lambda c: openface_csv(c.video_id, c.actor), TRACK_ERRORS,
                  summary=summary, precheck=precheck)
