"""Image patches of the eyes, the mouth and the face (RGB uint8), for the ResNet features.

* **Eyes** (``crops_eyes``): one ``crops.eye_size`` (128 x 128) patch per eye, centred on the
  midpoint of the min/max of that eye's 28 2D eye landmarks (``eye_lmk_2d[:, 0:28]`` and
  ``[:, 28:56]``). Stored as ``(frames, 2, 128, 128, 3)``: index 0 = OpenFace's first eye block
  (``eye_lmk 0-27``), index 1 = the second (``28-55``).
* **Mouth** (``crops_mouth``): ``crops.mouth_size`` (110 x 180, height x width) centred on the
  min/max midpoint of landmarks 48-67 (2D): ``(frames, 110, 180, 3)``.
* **Face** (``crops_face``): ``crops.face_mode: centre`` (the papers): the centre square of
  side ``min(H, W)`` of the frame (720 x 720 for RAVDESS's 1280 x 720) resized to
  ``crops.face_size`` (224); ``tracked``: a square of side ``crops.face_margin`` x the larger
  side of the 68 landmarks' box, centred on the box midpoint, resized the same way:
  ``(frames, 224, 224, 3)``. Resizing uses ``cv2.INTER_AREA`` when shrinking (no aliasing) and
  ``INTER_LINEAR`` when enlarging.

Pixel convention: OpenFace landmark ``(x, y)`` is the centre of pixel column x, row y. A patch
of width w centred on x starts at column ``floor(x - w/2 + 0.5)``, so a landmark midpoint at an
integer position lands on patch pixel ``(h // 2, w // 2)``.

Patches that leave the frame are padded (``crops.padding``: ``zeros`` = black, the default, so
that the network sees no invented texture; ``edge`` = replicate the border pixels) and counted;
the stage reports the clips that have such patches. Colour order: **RGB** (what ImageNet-trained
ResNets expect); :func:`features.media.video.iter_frames` yields BGR, converted once per frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

PADDINGS = ("zeros", "edge")
FACE_MODES = ("centre", "tracked")
MOUTH_LANDMARKS = slice(48, 68)
EYE_SLICES = (slice(0, 28), slice(28, 56))


def box_centre(points: np.ndarray) -> tuple[float, float]:
    """Midpoint ``(x, y)`` px of the min/max box of ``points (k, 2)`` px."""
    points = np.asarray(points, dtype=np.float64)
    lo, hi = points.min(axis=0), points.max(axis=0)
    return float((lo[0] + hi[0]) / 2.0), float((lo[1] + hi[1]) / 2.0)


def patch_origin(centre: tuple[float, float], size: tuple[int, int]) -> tuple[int, int]:
    """Top-left ``(x0, y0)`` of a ``size = (height, width)`` patch centred on ``centre (x, y)``."""
    h, w = size
    return math.floor(centre[0] - w / 2.0 + 0.5), math.floor(centre[1] - h / 2.0 + 0.5)


def crop_patch(frame: np.ndarray, centre: tuple[float, float], size: tuple[int, int],
               padding: str = "zeros") -> tuple[np.ndarray, bool]:
    """Cut a ``size = (height, width)`` patch of ``frame (H, W, C)`` centred on ``centre (x, y)``.

    Returns ``(patch (height, width, C), inside)``; ``inside`` is False when part of the patch
    lies outside the frame, which is then filled per ``padding`` (``zeros`` or ``edge``).
    """
    if padding not in PADDINGS:
        raise ValueError(f"crops.padding must be one of {PADDINGS}, got {padding!r}")
    h, w = int(size[0]), int(size[1])
    frame_h, frame_w = frame.shape[:2]
    x0, y0 = patch_origin(centre, (h, w))
    if x0 >= 0 and y0 >= 0 and x0 + w <= frame_w and y0 + h <= frame_h:
        return frame[y0:y0 + h, x0:x0 + w].copy(), True
    rows = np.arange(y0, y0 + h)
    cols = np.arange(x0, x0 + w)
    patch = frame[np.clip(rows, 0, frame_h - 1)][:, np.clip(cols, 0, frame_w - 1)]
    if padding == "zeros":
        outside = ((rows < 0) | (rows >= frame_h))[:, None] | ((cols < 0) | (cols >= frame_w))[None, :]
        patch[outside] = 0
    return patch, False


def resize_square(image: np.ndarray, side: int) -> np.ndarray:
    """Resize a square-ish image to ``(side, side)`` (INTER_AREA to shrink, INTER_LINEAR to grow)."""
    interp = cv2.INTER_AREA if image.shape[0] > side else cv2.INTER_LINEAR
    return cv2.resize(image, (side, side), interpolation=interp)


def centre_square(frame: np.ndarray) -> np.ndarray:
    """The centre square of side ``min(H, W)`` of ``frame (H, W, C)``."""
    h, w = frame.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return frame[y0:y0 + side, x0:x0 + side]


def eye_patches(frame: np.ndarray, eye_lmk_2d: np.ndarray, size: tuple[int, int] = (128, 128),
                padding: str = "zeros") -> tuple[np.ndarray, bool]:
    """``(2, h, w, C)`` patches of both eyes from one frame's ``eye_lmk_2d (56, 2)`` px;
    the bool is True when both lie fully inside the frame."""
    out, inside = [], True
    for sl in EYE_SLICES:
        patch, ok = crop_patch(frame, box_centre(eye_lmk_2d[sl]), size, padding)
        out.append(patch)
        inside &= ok
    return np.stack(out), inside


def mouth_patch(frame: np.ndarray, lmk_2d: np.ndarray, size: tuple[int, int] = (110, 180),
                padding: str = "zeros") -> tuple[np.ndarray, bool]:
    """``(h, w, C)`` mouth patch centred on landmarks 48-67 of ``lmk_2d (68, 2)`` px."""
    return crop_patch(frame, box_centre(lmk_2d[MOUTH_LANDMARKS]), size, padding)


def face_image(frame: np.ndarray, side: int = 224, mode: str = "centre",
               lmk_2d: np.ndarray | None = None, margin: float = 1.4,
               padding: str = "zeros") -> tuple[np.ndarray, bool]:
    """``(side, side, C)`` face image: the frame's centre square (``centre``) or a square of
    ``margin`` x the landmark box around the tracked face (``tracked``, needs ``lmk_2d (68, 2)``)."""
    if mode == "centre":
        return resize_square(centre_square(frame), side), True
    if mode != "tracked":
        raise ValueError(f"crops.face_mode must be one of {FACE_MODES}, got {mode!r}")
    if lmk_2d is None:
        raise ValueError("face_mode tracked needs the 2D landmarks")
    lo, hi = lmk_2d.min(axis=0), lmk_2d.max(axis=0)
    box = max(1, int(round(margin * float(max(hi - lo)))))
    patch, inside = crop_patch(frame, box_centre(lmk_2d), (box, box), padding)
    return resize_square(patch, side), inside
