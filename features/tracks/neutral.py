"""The most neutral frame of a clip (Houmard, equations 5.2 and 5.3), the KPD reference frame.

``score_f = sum_18 AU_c + sum_17 AU_r + sum_17 [AU_r > 1] + 3 * sum_17 [AU_r > 2]`` and the most
neutral frame is ``argmin_f score_f``. Choices where the thesis is silent: only tracked frames
(``success == 1``) are candidates (OpenFace writes zero AUs on failed frames, which would score
as perfectly neutral), every frame of the clip is a candidate (not only the 88 selected ones:
the neutral face is a property of the clip), and ties go to the earliest frame.
"""

from __future__ import annotations

import numpy as np

from features.tracks.frames import TrackError
from features.tracks.openface import OpenFaceTrack


def neutral_scores(au_r: np.ndarray, au_c: np.ndarray) -> np.ndarray:
    """Per-frame neutral score ``(frames,)`` from intensities ``(frames, 17)`` (0..5) and
    presences ``(frames, 18)`` (0/1); lower is more neutral."""
    au_r = np.asarray(au_r, dtype=np.float64)
    au_c = np.asarray(au_c, dtype=np.float64)
    if au_r.ndim != 2 or au_r.shape[1] != 17 or au_c.ndim != 2 or au_c.shape[1] != 18:
        raise ValueError(f"expected AU_r (frames, 17) and AU_c (frames, 18), got {au_r.shape}, {au_c.shape}")
    return (au_c.sum(1) + au_r.sum(1) + (au_r > 1).sum(1) + 3.0 * (au_r > 2).sum(1))


def most_neutral_frame(au_r: np.ndarray, au_c: np.ndarray, usable: np.ndarray | None = None) -> int:
    """Row index of the lowest score among ``usable`` rows (all rows when None); earliest on ties."""
    scores = neutral_scores(au_r, au_c)
    if usable is not None:
        usable = np.asarray(usable, bool)
        if not usable.any():
            raise ValueError("no usable frame to choose the most neutral frame from")
        scores = np.where(usable, scores, np.inf)
    return int(np.argmin(scores))


def most_neutral_row(track: OpenFaceTrack) -> int:
    """CSV row of the most neutral tracked frame of ``track`` (needs blocks au_r and au_c)."""
    track.require("au_r", "au_c", feature="the most neutral frame")
    if not track.success.any():
        raise TrackError(f"{track.path}: no tracked frame (success == 1) to pick a neutral frame from")
    return most_neutral_frame(track.au_r, track.au_c, track.success)
