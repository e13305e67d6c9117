"""Which stretches of a recording are scored: sliding windows, the clip's middle, short clips.

The models see ``count`` frames (88 = 2.93 s at ``model_fps`` 30, Houmard's shortest RAVDESS
clip). Positions are in *model frames* (``1 / model_fps`` s each, also the spectral frames of
LMS/MFCC: 1600 samples at 48 kHz); a video at another frame rate is sampled at the model frame
times by linear interpolation of the track (:func:`features.tracks.frames.interpolate` takes
fractional frame positions), so a window always spans ``count / model_fps`` seconds.

* Sliding windows (``predict.window`` model frames, default the training ``count``;
  ``predict.hop`` model frames): starts ``0, hop, 2 hop,
  ...`` while the window fits, plus one window ending at the last frame when the hops do not
  reach it (the end of a recording is always scored).
* The middle window: the training selection itself, :func:`features.tracks.frames.middle_frames`
  (the ``count`` middle frames) with the audio's ``count`` middle frames' worth of samples
  (:func:`features.media.audio.centre_segment`), so a RAVDESS-length clip scored by its middle
  window gets exactly the input its test-fold model saw in training.
* Shorter recordings (fewer than ``count`` model frames): one window, the middle window, edge
  padded like training clips (padded frames marked invalid) and flagged ``padded``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from features.tracks.frames import middle_frames


@dataclasses.dataclass(frozen=True)
class Window:
    """One scored stretch: ``kind`` ``window`` or ``middle``; ``start``/``count`` in model
    frames; ``frames (count,)`` positions in model frames (edge-repeated when padded);
    ``padded (count,)`` True where a position repeats an edge frame of a short recording."""

    kind: str
    index: int
    start: int
    count: int
    frames: np.ndarray
    padded: np.ndarray

    def seconds(self, model_fps: float, total: int) -> tuple[float, float]:
        """(start, end) in seconds of the recording (clipped to its length ``total`` frames)."""
        end = min(self.start + self.count, total) if not self.padded.any() else total
        return self.start / model_fps, end / model_fps


def window_starts(total: int, length: int, hop: int) -> list[int]:
    """Start frames of the sliding windows over ``total`` model frames (empty if shorter)."""
    if length <= 0 or hop <= 0:
        raise ValueError(f"window length and hop must be positive, got {length}, {hop}")
    if total < length:
        return []
    starts = list(range(0, total - length + 1, hop))
    if starts[-1] + length < total:
        starts.append(total - length)
    return starts


def middle_window(total: int, count: int) -> Window:
    """The training selection of a recording of ``total`` model frames (padded when short)."""
    idx, valid = middle_frames(total, count)
    start = int(idx[0]) if valid.all() else 0
    return Window("middle", 0, start, count, idx.astype(np.float64), ~valid)


def plan_windows(total: int, length: int, hop: int) -> list[Window]:
    """Sliding windows of ``length`` model frames every ``hop`` frames, or the padded middle
    window when the recording is shorter than one window. TIM-Net averages over time, so any
    length runs; lengths other than the training ``count`` are outside what the models saw."""
    starts = window_starts(total, int(length), int(hop))
    if not starts:
        w = middle_window(total, int(length))
        return [dataclasses.replace(w, kind="window")]
    return [Window("window", i, s, int(length), np.arange(s, s + length, dtype=np.float64),
                   np.zeros(int(length), bool)) for i, s in enumerate(starts)]
