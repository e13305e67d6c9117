"""OpenFace 2.x ``FeatureExtraction`` sequence CSV: the schema, a reader and a writer.

The full schema has 714 columns in this order (all output flags on):

=============  =====  ===========================================================
block          cols   columns
=============  =====  ===========================================================
basic          5      frame, face_id, timestamp, confidence, success
gaze           8      gaze_0_{x,y,z}, gaze_1_{x,y,z}, gaze_angle_{x,y}
eye_lmk_2d     112    eye_lmk_x_0..55, eye_lmk_y_0..55 (px)
eye_lmk_3d     168    eye_lmk_X_0..55, eye_lmk_Y_0..55, eye_lmk_Z_0..55 (mm)
pose           6      pose_Tx, pose_Ty, pose_Tz (mm), pose_Rx, pose_Ry, pose_Rz (rad)
lmk_2d         136    x_0..67, y_0..67 (px)
lmk_3d         204    X_0..67, Y_0..67, Z_0..67 (mm)
pdm            40     p_scale, p_rx, p_ry, p_rz, p_tx, p_ty, p_0..p_33
au_r           17     AU01_r .. AU45_r (intensity 0..5)
au_c           18     AU01_c .. AU45_c (presence 0/1, includes AU28)
=============  =====  ===========================================================

Linux builds write ``,`` between fields, Windows builds ``, ``; the reader accepts both.
Real files come in variants (a subset of blocks when only some output flags were set, the
public RAVDESS tracking release without ``face_id``/``success``, OpenFace 1.x without gaze
angles or eye landmarks): :func:`read_openface` returns whatever blocks are present and
:meth:`OpenFaceTrack.require` raises a clear error naming the missing block and the file.
Rows with ``success == 0`` are kept and flagged in ``success``, never dropped.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

AU_R = ["01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17", "20", "23", "25", "26", "45"]
AU_C = ["01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17", "20", "23", "25", "26", "28", "45"]


def _xyz(prefix: str, axes: str, n: int) -> list[str]:
    return [f"{prefix}{a}_{i}" for a in axes for i in range(n)]


BLOCKS: dict[str, list[str]] = {
    "basic": ["frame", "face_id", "timestamp", "confidence", "success"],
    "gaze": ["gaze_0_x", "gaze_0_y", "gaze_0_z", "gaze_1_x", "gaze_1_y", "gaze_1_z",
             "gaze_angle_x", "gaze_angle_y"],
    "eye_lmk_2d": _xyz("eye_lmk_", "xy", 56),
    "eye_lmk_3d": _xyz("eye_lmk_", "XYZ", 56),
    "pose": ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"],
    "lmk_2d": _xyz("", "xy", 68),
    "lmk_3d": _xyz("", "XYZ", 68),
    "pdm": ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"] + [f"p_{i}" for i in range(34)],
    "au_r": [f"AU{a}_r" for a in AU_R],
    "au_c": [f"AU{a}_c" for a in AU_C],
}
COLUMNS: list[str] = [c for cols in BLOCKS.values() for c in cols]
assert len(COLUMNS) == 714

# Blocks a feature needs, used for the "missing block" messages downstream.
FEATURE_NEEDS: dict[str, list[str]] = {
    "kpd_face": ["lmk_3d", "au_r", "au_c"],
    "kpd_eyes": ["eye_lmk_3d", "lmk_3d", "gaze", "au_r", "au_c"],
    "au": ["au_r", "au_c"],
    "pose": ["pose"],
    "gaze": ["gaze", "au_r"],
    "crops": ["eye_lmk_2d", "lmk_2d"],
}


class OpenFaceError(ValueError):
    """A CSV that does not follow the OpenFace schema (message names the file and the problem)."""


@dataclasses.dataclass
class OpenFaceTrack:
    """Typed arrays of one OpenFace CSV; a block absent from the file is ``None``.

    ``n`` = number of rows (frames). Shapes: ``frame (n,)`` int, ``timestamp (n,)`` s,
    ``confidence (n,)``, ``success (n,)`` bool, ``gaze_0/gaze_1 (n, 3)`` unit vectors,
    ``gaze_angle (n, 2)`` rad, ``eye_lmk_2d (n, 56, 2)`` px, ``eye_lmk_3d (n, 56, 3)`` mm,
    ``pose_T (n, 3)`` mm, ``pose_R (n, 3)`` rad, ``lmk_2d (n, 68, 2)`` px, ``lmk_3d (n, 68, 3)``
    mm, ``pdm (n, 40)``, ``au_r (n, 17)`` 0..5, ``au_c (n, 18)`` 0/1.
    """

    path: str
    frame: np.ndarray
    timestamp: np.ndarray
    confidence: np.ndarray
    success: np.ndarray
    gaze_0: np.ndarray | None = None
    gaze_1: np.ndarray | None = None
    gaze_angle: np.ndarray | None = None
    eye_lmk_2d: np.ndarray | None = None
    eye_lmk_3d: np.ndarray | None = None
    pose_T: np.ndarray | None = None
    pose_R: np.ndarray | None = None
    lmk_2d: np.ndarray | None = None
    lmk_3d: np.ndarray | None = None
    pdm: np.ndarray | None = None
    au_r: np.ndarray | None = None
    au_c: np.ndarray | None = None
    blocks: tuple[str, ...] = ()
    variant: str = "openface2"

    @property
    def n(self) -> int:
        return int(self.frame.shape[0])

    def require(self, *blocks: str, feature: str = "") -> None:
        """Raise OpenFaceError naming ``feature``, the missing blocks and the file."""
        missing = [b for b in blocks if b not in self.blocks]
        if missing:
            what = f"{feature} needs" if feature else "needs"
            raise OpenFaceError(
                f"{self.path}: {what} block(s) {', '.join(missing)} which this CSV lacks "
                f"(variant {self.variant}; present: {', '.join(self.blocks) or 'none'})")


def _read_frame(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise OpenFaceError(f"{path}: OpenFace CSV not found")
    text = path.read_text(errors="replace")
    if not text.strip():
        raise OpenFaceError(f"{path}: empty file")
    try:
        df = pd.read_csv(io.StringIO(text), skipinitialspace=True)
    except Exception as exc:  # pandas raises several parser errors
        raise OpenFaceError(f"{path}: not a readable CSV ({exc})") from exc
    df.columns = [c.strip() for c in df.columns]
    return df


def _block(df: pd.DataFrame, name: str, path: Path) -> np.ndarray | None:
    cols = BLOCKS[name]
    present = [c for c in cols if c in df.columns]
    if not present:
        return None
    if len(present) != len(cols):
        missing = [c for c in cols if c not in df.columns]
        raise OpenFaceError(f"{path}: block {name} is incomplete: missing {missing[:5]}"
                            f"{' ...' if len(missing) > 5 else ''} ({len(missing)} columns)")
    values = df[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(values).any():
        rows = np.where(np.isnan(values).any(axis=1))[0]
        raise OpenFaceError(f"{path}: block {name} has empty or non-numeric values "
                            f"(first bad row {int(rows[0]) + 2} of the file; truncated?)")
    return values


def read_openface(path: str | Path) -> OpenFaceTrack:
    """Read an OpenFace CSV (any of the variants in the module docstring) into typed arrays."""
    path = Path(path)
    df = _read_frame(path)
    if "frame" not in df.columns:
        raise OpenFaceError(f"{path}: no 'frame' column; not an OpenFace sequence CSV")
    blocks = {name: _block(df, name, path) for name in BLOCKS if name != "basic"}
    n = len(df)
    if n == 0:
        raise OpenFaceError(f"{path}: header only, no frame rows")

    def col(name: str, default: float) -> np.ndarray:
        if name in df.columns:
            v = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
            if np.isnan(v).any():
                raise OpenFaceError(f"{path}: column {name} has empty or non-numeric values")
            return v
        return np.full(n, default)

    present = tuple(b for b, v in blocks.items() if v is not None)
    if "gaze" not in present and "gaze_0_x" in df.columns:
        variant = "openface1"
    elif "face_id" not in df.columns and "success" not in df.columns:
        variant = "ravdess-release"
    elif len(present) < len(BLOCKS) - 1:
        variant = "partial"
    else:
        variant = "openface2"
    confidence = col("confidence", 1.0)
    # Without a success column (RAVDESS release), a frame counts as tracked when confidence > 0.
    success = col("success", np.nan) if "success" in df.columns else (confidence > 0).astype(float)
    g = blocks["gaze"]
    e2, e3, l2, l3 = blocks["eye_lmk_2d"], blocks["eye_lmk_3d"], blocks["lmk_2d"], blocks["lmk_3d"]
    p = blocks["pose"]
    return OpenFaceTrack(
        path=str(path),
        frame=col("frame", 0).astype(np.int64),
        timestamp=col("timestamp", 0.0),
        confidence=confidence,
        success=success > 0.5,
        gaze_0=None if g is None else g[:, 0:3],
        gaze_1=None if g is None else g[:, 3:6],
        gaze_angle=None if g is None else g[:, 6:8],
        eye_lmk_2d=None if e2 is None else e2.reshape(n, 2, 56).transpose(0, 2, 1),
        eye_lmk_3d=None if e3 is None else e3.reshape(n, 3, 56).transpose(0, 2, 1),
        pose_T=None if p is None else p[:, 0:3],
        pose_R=None if p is None else p[:, 3:6],
        lmk_2d=None if l2 is None else l2.reshape(n, 2, 68).transpose(0, 2, 1),
        lmk_3d=None if l3 is None else l3.reshape(n, 3, 68).transpose(0, 2, 1),
        pdm=blocks["pdm"],
        au_r=blocks["au_r"],
        au_c=blocks["au_c"],
        blocks=present,
        variant=variant,
    )


def track_to_matrix(t: OpenFaceTrack) -> np.ndarray:
    """All 714 columns as a ``(n, 714)`` float array (every block must be present)."""
    t.require(*[b for b in BLOCKS if b != "basic"], feature="the full OpenFace CSV")
    n = t.n
    parts = [
        np.stack([t.frame, np.zeros(n), t.timestamp, t.confidence, t.success.astype(float)], 1),
        np.concatenate([t.gaze_0, t.gaze_1, t.gaze_angle], 1),
        t.eye_lmk_2d.transpose(0, 2, 1).reshape(n, -1),
        t.eye_lmk_3d.transpose(0, 2, 1).reshape(n, -1),
        np.concatenate([t.pose_T, t.pose_R], 1),
        t.lmk_2d.transpose(0, 2, 1).reshape(n, -1),
        t.lmk_3d.transpose(0, 2, 1).reshape(n, -1),
        t.pdm, t.au_r, t.au_c,
    ]
    return np.concatenate(parts, 1)


def _fmt_rows(m: np.ndarray) -> Iterable[str]:
    """OpenFace's number formatting: ints for frame/face_id/success, 3 decimals for time,
    2 for confidence, 6 for gaze, 1 for eye/face landmarks 2D and 3D, pose T 1, pose R 3,
    pdm 3, AU_r 2, AU_c 1 (as FeatureExtraction writes them)."""
    fmts = (["{:.0f}", "{:.0f}", "{:.3f}", "{:.2f}", "{:.0f}"] + ["{:.6f}"] * 8
            + ["{:.1f}"] * (112 + 168) + ["{:.1f}"] * 3 + ["{:.3f}"] * 3
            + ["{:.1f}"] * (136 + 204) + ["{:.3f}"] * 40 + ["{:.2f}"] * 17 + ["{:.1f}"] * 18)
    for row in m:
        yield ",".join(f.format(v) for f, v in zip(fmts, row))


def write_openface(path: str | Path, track: OpenFaceTrack) -> None:
    """Write ``track`` with OpenFace's Linux header (``,``, no spaces) and number formatting.

    Not atomic by itself: stages write into a temporary folder and rename it.
    """
    m = track_to_matrix(track)
    with Path(path).open("w", newline="\n") as fh:
        fh.write(",".join(COLUMNS) + "\n")
        for line in _fmt_rows(m):
            fh.write(line + "\n")
