"""OpenFace tracks on the selected frames: frame matching, untracked frames, linear interpolation.

Every per-frame visual feature (crops, KPD, AU, pose, gaze) goes through this module, so all of
them see the same frames and the same validity mask:

* **Selection.** :func:`middle_frames` picks ``frames.count`` (88) video frame
  indices (0-based, as :func:`features.media.video.iter_frames` numbers them); short clips are
  edge-padded and the padded positions marked invalid. :func:`spaced_frames` picks 20 equally
  spaced frames over the whole clip (ResNet fine-tuning); repeated frames of short clips are
  marked invalid the same way.
* **Matching.** CSV rows are matched to video frames by the ``frame`` column. OpenFace numbers
  frames from 1, so video frame ``i`` is the CSV row with ``frame == i + 1``
  (:data:`OPENFACE_FIRST_FRAME`). A frame is *tracked* when its row exists and ``success == 1``.
* **Untracked frames.** Values of untracked frames (``success == 0``, or no row at all) are
  linearly interpolated over time (the frame number) between the nearest tracked frames of the
  whole CSV, and held at the first/last tracked value before/after them. OpenFace writes zeros
  (or stale values) on failed frames, which would otherwise look like extreme expressions.
* **Mask.** The stored ``valid`` mask is ``not padded and tracked``.
* **Too many missing frames.** A clip whose untracked fraction of its (non-padded) selected
  frames exceeds ``frames.max_missing`` is *kept* (interpolated, with its mask) and reported in
  the problems CSV; the training code can drop it by the mask. A clip without a single tracked
  frame cannot be interpolated: :class:`TrackError` (the stages skip and report it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from features.tracks.openface import BLOCKS, OpenFaceError, OpenFaceTrack

OPENFACE_FIRST_FRAME = 1  # OpenFace's `frame` column of the first video frame


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
    """``count`` equally spaced frame indices over the whole clip, with a validity mask ``(count,)``.

    The ResNet fine-tuning input (Houmard: "20 equally spaced samples from the full video").
    Index k is ``round(k * (n_frames - 1) / (count - 1))`` (first and last frame included); a
    clip with fewer frames than ``count`` repeats frames, and repeated positions beyond the
    first are marked invalid.
    """
    if n_frames <= 0:
        raise ValueError("a clip with no frames has no frames to sample")
    if count < 1:
        raise ValueError(f"spaced_frames: count must be >= 1, got {count}")
    if count == 1:
        return np.array([n_frames // 2]), np.ones(1, dtype=bool)
    idx = np.round(np.linspace(0, n_frames - 1, count)).astype(int)
    valid = np.ones(count, dtype=bool)
    valid[1:] = idx[1:] != idx[:-1]
    return idx, valid


SELECTIONS = {"middle": middle_frames, "spaced": spaced_frames}


class TrackError(ValueError):
    """A track that cannot give values on the selected frames (message names the file)."""


@dataclasses.dataclass(frozen=True)
class Selection:
    """The selected frames of one clip and how they map onto its OpenFace CSV.

    Shapes are ``(count,)``: ``indices`` video frame indices (0-based), ``padded`` True where the
    clip was too short and the position repeats an edge frame, ``tracked`` True where the CSV
    has a row for that frame with ``success == 1``.
    """

    indices: np.ndarray
    padded: np.ndarray
    tracked: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """``(count,)`` bool: a real (not padded) and tracked frame."""
        return ~self.padded & self.tracked

    @property
    def missing_fraction(self) -> float:
        """Untracked fraction of the non-padded selected frames (0..1)."""
        real = ~self.padded
        return float((real & ~self.tracked).sum() / max(int(real.sum()), 1))


def select_tracked(track: OpenFaceTrack | None, n_frames: int, count: int = 88,
                   mode: str = "middle") -> Selection:
    """Pick ``count`` frames of a clip of ``n_frames`` video frames and match the CSV.

    ``mode``: ``middle`` (:func:`middle_frames`, every feature) or ``spaced``
    (:func:`spaced_frames`, the fine-tuning crops). ``track=None`` (a feature that needs no
    tracking, e.g. the centre face crop) marks every frame tracked.
    """
    if mode not in SELECTIONS:
        raise ValueError(f"unknown frame selection {mode!r} (one of {sorted(SELECTIONS)})")
    indices, valid = SELECTIONS[mode](int(n_frames), int(count))
    if track is None:
        tracked = np.ones(len(indices), bool)
    else:
        ok_frames = track.frame[track.success] - OPENFACE_FIRST_FRAME
        tracked = np.isin(indices, ok_frames)
    return Selection(indices.astype(np.int64), ~valid, tracked)


def gaze_valid(track: OpenFaceTrack) -> np.ndarray:
    """Rows ``(n_rows,)`` whose gaze can be used: tracked, with unit gaze vectors. The embedded
    tracker writes zero gaze vectors on tracked frames with a closed eye (no pupil to locate);
    OpenFace always writes unit vectors, so its tracked rows all count as valid."""
    ok = np.asarray(track.success, dtype=bool).copy()
    if track.gaze_0 is not None and track.gaze_1 is not None:
        ok &= np.linalg.norm(track.gaze_0, axis=1) > 0.5
        ok &= np.linalg.norm(track.gaze_1, axis=1) > 0.5
    return ok


def interpolate(values: np.ndarray, track: OpenFaceTrack, indices: np.ndarray,
                anchors: np.ndarray | None = None) -> np.ndarray:
    """Values ``(n_rows, ...)`` of a CSV's rows, resampled at video frames ``indices (m,)``.

    Tracked rows (or the rows in ``anchors (n_rows,)`` bool, e.g. :func:`gaze_valid` for gaze:
    closed-eye frames are then interpolated like untracked ones) are anchors; a query frame
    between two anchors is linearly interpolated in the frame number, outside them it takes the
    nearest anchor's value. Tracked query frames return their own row exactly. Returns
    ``(m, ...)`` float64.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] != track.n:
        raise ValueError(f"{track.path}: {values.shape[0]} values for {track.n} CSV rows")
    ok = track.success if anchors is None else np.asarray(anchors, dtype=bool)
    if not ok.any() and anchors is not None and track.success.any():
        ok = track.success  # no valid gaze at all (eyes closed throughout): keep the tracked rows
    if not ok.any():
        raise TrackError(f"{track.path}: no frame has success == 1; nothing to interpolate from")
    frames = track.frame[ok] - OPENFACE_FIRST_FRAME
    frames, first = np.unique(frames, return_index=True)  # sorted; first row of duplicates
    anchors = values[ok][first].reshape(len(frames), -1)
    q = np.asarray(indices, dtype=np.float64)
    right = np.clip(np.searchsorted(frames, q, side="left"), 0, len(frames) - 1)
    left = np.clip(np.searchsorted(frames, q, side="right") - 1, 0, len(frames) - 1)
    span = (frames[right] - frames[left]).astype(np.float64)
    w = np.where(span > 0, (q - frames[left]) / np.where(span > 0, span, 1.0), 0.0)
    w = np.clip(w, 0.0, 1.0)[:, None]
    out = anchors[left] * (1.0 - w) + anchors[right] * w
    exact = frames[left] == q  # keep tracked frames bit-exact
    out[exact] = anchors[left[exact]]
    return out.reshape((len(q),) + values.shape[1:])


def missing_message(sel: Selection, max_missing: float) -> str | None:
    """Problem text when more than ``max_missing`` of the selected frames are untracked."""
    frac = sel.missing_fraction
    if frac > max_missing:
        return (f"{frac:.0%} of the selected frames are untracked (success == 0 or no CSV row; "
                f"frames.max_missing = {max_missing:.0%})")
    return None


def csv_blocks(path: Path) -> tuple[str, ...]:
    """Blocks whose columns are all in a CSV's header (reads the first line only)."""
    with Path(path).open(errors="replace") as fh:
        header = {c.strip() for c in fh.readline().split(",")}
    present = [b for b, cols in BLOCKS.items() if b != "basic" and set(cols) <= header]
    if "gaze" not in present and set(BLOCKS["gaze"][:6]) <= header:
        present.insert(0, "gaze")  # OpenFace 1.x: the reader derives the angles from the vectors
    return tuple(present)


def require_blocks(paths: Iterable[Path], needs: Iterable[str], feature: str, actor: str) -> None:
    """Raise :class:`OpenFaceError` if any CSV lacks a block ``feature`` needs.

    The message names the feature, the missing blocks, the blocks the CSVs do have and the
    files, e.g. ``kpd_face needs lmk_3d; Actor_03's CSVs have au_r, au_c only (60 files:
    data/openface/Actor_03/01-01-01-01-01-01-03.csv, ...)``. Missing files are left to the
    caller (they are reported per clip).
    """
    needs = list(needs)
    bad: dict[tuple[str, ...], list[Path]] = {}
    for p in paths:
        p = Path(p)
        if not p.exists():
            continue
        have = csv_blocks(p)
        if any(b not in have for b in needs):
            bad.setdefault(have, []).append(p)
    if not bad:
        return
    have, files = max(bad.items(), key=lambda kv: len(kv[1]))
    missing = [b for b in needs if b not in have]
    n_bad = sum(len(v) for v in bad.values())
    raise OpenFaceError(
        f"{feature} needs {', '.join(missing)}; {actor}'s CSVs have "
        f"{', '.join(have) or 'no known block'} only ({n_bad} file(s): "
        f"{', '.join(str(f) for f in files[:3])}{', ...' if n_bad > 3 else ''}); re-run the "
        f"tracker with those outputs on (needed blocks: {', '.join(needs)})")


def clip_notes(sel: Selection, n_frames: int, max_missing: float) -> list[tuple[str, str]]:
    """``(problem, action)`` notes of a clip's selection for the problems report: padding of a
    short clip, and too many untracked frames (the clip is kept with its mask)."""
    notes = []
    if sel.padded.any():
        notes.append((f"clip has {n_frames} frames < {len(sel.indices)}: selection edge-padded",
                      "padded: padded positions marked invalid"))
    msg = missing_message(sel, max_missing)
    if msg:
        notes.append((msg, "kept: interpolated, untracked frames marked invalid"))
    elif sel.missing_fraction > 0:
        notes.append((f"{sel.missing_fraction:.0%} of the selected frames are untracked",
                      "interpolated: untracked frames marked invalid"))
    return notes
