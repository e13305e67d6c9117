"""Frame selection, one helper for every feature.

Policy for clips shorter than the requested count: the selection is padded by repeating the
edge frames (so shapes are always ``(count, ...)``) and the padded positions are marked invalid
in the returned mask, which feature files store next to the data. Never a crash.
"""

from __future__ import annotations

import numpy as np


def middle_frames(n_frames: int, count: int = 88) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(count,)`` of the ``count`` middle frames and a validity mask ``(count,)``.

    With ``n_frames >= count`` the window starts at ``(n_frames - count) // 2``. Shorter clips:
    all frames, centred, padded symmetrically with the first/last frame and marked invalid.
    """
    if n_frames <= 0:
        raise ValueError("a clip with no frames has no middle frames")
    if n_frames >= count:
        start = (n_frames - count) // 2
        return np.arange(start, start + count), np.ones(count, dtype=bool)
    before = (count - n_frames) // 2
    idx = np.clip(np.arange(count) - before, 0, n_frames - 1)
    valid = np.zeros(count, dtype=bool)
    valid[before:before + n_frames] = True
    return idx, valid


def spaced_frames(n_frames: int, count: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """``count`` equally spaced frame indices over the whole clip (ResNet fine-tuning), with mask.

    Index k is ``round(k * (n_frames - 1) / (count - 1))``; a clip with fewer frames than
    ``count`` repeats frames, and repeated positions beyond the first are marked invalid.
    """
    if n_frames <= 0:
        raise ValueError("a clip with no frames has no frames to sample")
    if count == 1:
        return np.array([n_frames // 2]), np.ones(1, dtype=bool)
    idx = np.round(np.linspace(0, n_frames - 1, count)).astype(int)
    valid = np.ones(count, dtype=bool)
    valid[1:] = idx[1:] != idx[:-1]
    return idx, valid


def select_frames(n_frames: int, count: int = 88, mode: str = "middle") -> tuple[np.ndarray, np.ndarray]:
    """Dispatch on ``mode`` (``middle`` or ``spaced``)."""
    if mode == "middle":
        return middle_frames(n_frames, count)
    if mode == "spaced":
        return spaced_frames(n_frames, count)
    raise ValueError(f"unknown frame selection mode {mode!r} (middle | spaced)")
