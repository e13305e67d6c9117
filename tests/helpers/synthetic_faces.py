"""Test clips with known landmarks: the bundled portrait moved by a known affine motion.

The portrait (``features/assets/astronaut.png``) is placed in a frame of any size and moved
(translation, scale, in-plane rotation) frame by frame; the truth landmarks of frame t are the
portrait's base landmarks transformed by frame t's affine matrix. The base landmarks are dlib's
68 points on the untouched portrait, so a score against this truth measures how well the tracker
follows the face (and its consistency under motion, scale and compression), not dlib's own
accuracy. Frames listed in ``blank`` show no face (background only; truth = NaN).
Clips are H.264 (libx264, yuv420p) written through the bundled ffmpeg binary, like RAVDESS.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from features.media.video import ffmpeg_exe
from features.tracker.detect import detect_in
from features.tracker.landmarks import fit_landmarks
from features.tracker.models import ASSETS

PORTRAIT = ASSETS / "astronaut.png"


@functools.lru_cache(maxsize=1)
def base_face() -> tuple[np.ndarray, np.ndarray]:
    """The portrait (BGR) and its 68 landmarks ``(68, 2)`` px (dlib on the untouched image)."""
    image = cv2.imread(str(PORTRAIT), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{PORTRAIT}: bundled portrait missing")
    det = detect_in(image, 1.0)
    if det is None:
        raise RuntimeError(f"{PORTRAIT}: no face found in the bundled portrait")
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image, fit_landmarks(gray, det.box, (0, 0))


def motion(n: int, width: int, height: int, face_width: float, seed: int = 0,
           amplitude: float = 1.0) -> np.ndarray:
    """Affine matrices ``(n, 2, 3)`` placing the portrait's face centred in a ``width x height``
    frame with its landmark span ``face_width`` px wide, then moving it smoothly (translation up
    to 8 % of the frame width x ``amplitude``, scale +-6 %, rotation +-6 degrees)."""
    _, lmk = base_face()
    centre = lmk.mean(axis=0)
    span = float(lmk[:, 0].max() - lmk[:, 0].min())
    rng = np.random.default_rng(seed)
    ph = rng.uniform(0, 2 * np.pi, 4)
    t = np.arange(n)
    s = face_width / span * (1 + 0.06 * amplitude * np.sin(2 * np.pi * t / 97 + ph[0]))
    ang = 6.0 * amplitude * np.sin(2 * np.pi * t / 71 + ph[1])
    dx = 0.08 * width * amplitude * np.sin(2 * np.pi * t / 53 + ph[2])
    dy = 0.04 * height * amplitude * np.sin(2 * np.pi * t / 61 + ph[3])
    out = np.empty((n, 2, 3))
    for i in range(n):
        M = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(ang[i]), float(s[i]))
        M[0, 2] += width / 2 + dx[i] - centre[0]
        M[1, 2] += height / 2 + dy[i] - centre[1]
        out[i] = M
    return out


def render_clip(path: str | Path, n_frames: int = 60, width: int = 640, height: int = 360,
                fps: int = 30, face_width: float | None = None, seed: int = 0,
                amplitude: float = 1.0, blank: Iterable[int] = (), crf: int = 18) -> np.ndarray:
    """Write an H.264 clip and return its truth landmarks ``(n_frames, 68, 2)`` px (NaN on blank
    frames). ``face_width`` defaults to 30 % of the frame width (RAVDESS-like framing)."""
    image, lmk = base_face()
    face_width = 0.3 * width if face_width is None else face_width
    mats = motion(n_frames, width, height, face_width, seed, amplitude)
    blank = set(int(b) for b in blank)
    background = np.full((height, width, 3), 96, np.uint8)
    cv2.randn(background, 96, 12)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s",
           f"{width}x{height}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset",
           "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p", str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    truth = np.full((n_frames, 68, 2), np.nan)
    try:
        for i in range(n_frames):
            if i in blank:
                frame = background
            else:
                frame = cv2.warpAffine(image, mats[i], (width, height), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REFLECT)
                truth[i] = lmk @ mats[i][:, :2].T + mats[i][:, 2]
            proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise RuntimeError(f"{path}: ffmpeg failed: {err.strip()[-500:]}")
    return truth
