"""Key-point distances of an OpenFace track: the reference frame and the features of selected frames.

The per-clip KPD recipe shared by the ``kpd`` stage (training features) and the ``predict`` stage
(new recordings), so both compute exactly the same numbers from the same track: landmarks of
the selected video frames interpolated over untracked ones (:func:`features.tracks.frames.interpolate`),
distances and normalisation by :func:`features.visual.kpd.kpd_features`, reference distances
from the most neutral tracked frame (:mod:`features.tracks.neutral`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from features.tracks.frames import TrackError, gaze_valid, interpolate
from features.tracks.neutral import most_neutral_frame, most_neutral_row
from features.tracks.openface import OpenFaceTrack
from features.visual.kpd import FACE_LANDMARKS_40, kpd_distances, kpd_features


def track_reference(kind: str, track: OpenFaceTrack,
                    landmarks: Sequence[int] = FACE_LANDMARKS_40,
                    usable: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Distances ``(D,)`` (before normalisation) of the most neutral tracked frame of ``track``
    and that frame's OpenFace ``frame`` number. ``usable (rows,)`` restricts the candidate rows
    further (e.g. the first seconds of a recording); by default every tracked row is one."""
    if usable is None:
        row = most_neutral_row(track)
    else:
        track.require("au_r", "au_c", feature="the most neutral frame")
        ok = np.asarray(usable, bool) & track.success
        if not ok.any():
            raise TrackError(f"{track.path}: no tracked frame among the candidate frames to pick "
                             f"a neutral frame from")
        row = most_neutral_frame(track.au_r, track.au_c, ok)
    eye = None if track.eye_lmk_3d is None else track.eye_lmk_3d[[row]]
    ref = kpd_distances(kind, track.lmk_3d[[row]], eye, landmarks)[0]
    return ref, int(track.frame[row])


def track_points(kind: str, track: OpenFaceTrack, indices: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """What KPD reads at video frames ``indices``: 3D landmarks ``(m, 68, 3)`` and, for ``eyes``,
    eye landmarks ``(m, 56, 3)`` and gaze angles ``(m, 2)`` (gaze interpolated over the rows
    with a usable gaze only, :func:`features.tracks.frames.gaze_valid`)."""
    lmk = interpolate(track.lmk_3d, track, indices)
    if kind == "face":
        return lmk, None, None
    return (lmk, interpolate(track.eye_lmk_3d, track, indices),
            interpolate(track.gaze_angle, track, indices, gaze_valid(track)))


def track_kpd(kind: str, normalisation: str, track: OpenFaceTrack, indices: np.ndarray,
              reference: np.ndarray | None, landmarks: Sequence[int] = FACE_LANDMARKS_40
              ) -> np.ndarray:
    """KPD ``(len(indices), dims)`` float32 of video frames ``indices`` (0-based; fractional
    positions are linearly interpolated) of ``track``."""
    lmk, eye, gaze = track_points(kind, track, indices)
    return kpd_features(kind, normalisation, lmk, eye, gaze, reference, landmarks)
