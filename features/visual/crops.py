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

**Compact storage** (``crops.codec``, ``crops.quality``). Raw uint8 crops are about 27 MB a clip
(39 GB for RAVDESS), too much to share through a DVC remote, so each patch is stored as an image
file's bytes made by OpenCV ``imencode``: ``jpeg`` (the default, ``quality`` 0-100, 4:2:0 chroma),
``png`` (lossless, zlib level 3; ``quality`` unused), ``webp`` (``quality`` 1-100; 101 =
lossless) or ``raw`` (the plain array, as before). One clip's patches become one 1-D uint8
array, a small self-describing container (:func:`encode_crops`): an 8-byte magic, a JSON header
(codec, quality, the array's shape, every patch's byte length; sorted keys) and the
concatenated image bytes. :func:`decode_crops` is the one reader: it turns that container (or a
raw array, passed through) back into the ``(frames, [2,] H, W, 3)`` uint8 RGB array. The bytes
are a pure function of the pixels and the settings (libjpeg/libpng/libwebp with fixed options,
no timestamps, sorted-key JSON), so the same input gives the same HDF5 bytes (tested). The
default and its measured cost (size, time, ResNet feature similarity) are in
``bench/bench_crops.py`` and docs/pipeline.md.
"""

from __future__ import annotations

import json
import math

import cv2
import numpy as np

PADDINGS = ("zeros", "edge")
FACE_MODES = ("centre", "tracked")
MOUTH_LANDMARKS = slice(48, 68)
EYE_SLICES = (slice(0, 28), slice(28, 56))
CODECS = ("jpeg", "png", "webp", "raw")
MAGIC = b"HMDCROP1"          # 8 bytes opening every encoded clip
_EXT = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}


def _encode_options(codec: str, quality: int) -> list[int]:
    if codec == "jpeg":
        if not 0 <= quality <= 100:
            raise ValueError(f"crops.quality must be 0..100 for jpeg, got {quality}")
        return [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_OPTIMIZE, 0,
                cv2.IMWRITE_JPEG_PROGRESSIVE, 0,
                cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]
    if codec == "png":
        return [cv2.IMWRITE_PNG_COMPRESSION, 3]
    if codec == "webp":
        if not 1 <= quality <= 101:
            raise ValueError(f"crops.quality must be 1..101 for webp (101 = lossless), got {quality}")
        return [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    raise ValueError(f"crops.codec must be one of {CODECS}, got {codec!r}")


def encode_crops(crops: np.ndarray, codec: str = "jpeg", quality: int = 90) -> np.ndarray:
    """uint8 RGB ``(frames, [k,] H, W, 3)`` -> a 1-D uint8 container of one image file per patch.

    ``codec: raw`` returns ``crops`` unchanged. The container is ``MAGIC``, a little-endian
    uint32 header length, the JSON header ``{codec, quality, shape, lengths}`` and the patches'
    bytes in C order of the leading axes. Deterministic for the same pixels and settings.
    """
    crops = np.asarray(crops)
    if crops.dtype != np.uint8 or crops.ndim < 3 or crops.shape[-1] != 3:
        raise ValueError(f"encode_crops: expected uint8 (..., H, W, 3) RGB, got {crops.dtype} {crops.shape}")
    if codec == "raw":
        return crops
    opts = _encode_options(codec, int(quality))
    parts, lengths = [], []
    for patch in crops.reshape(-1, *crops.shape[-3:]):
        ok, buf = cv2.imencode(_EXT[codec], np.ascontiguousarray(patch[..., ::-1]), opts)
        if not ok:
            raise ValueError(f"encode_crops: OpenCV could not encode a {patch.shape} patch as {codec}")
        parts.append(buf.reshape(-1))
        lengths.append(int(buf.size))
    header = json.dumps({"codec": codec, "quality": int(quality), "shape": list(crops.shape),
                         "lengths": lengths}, sort_keys=True, separators=(",", ":")).encode()
    head = np.frombuffer(MAGIC + len(header).to_bytes(4, "little") + header, np.uint8)
    return np.concatenate([head, *parts])


def is_encoded(data: np.ndarray) -> bool:
    """True for a container made by :func:`encode_crops` (1-D uint8 opening with ``MAGIC``)."""
    return (isinstance(data, np.ndarray) and data.ndim == 1 and data.dtype == np.uint8
            and data.size >= len(MAGIC) + 4 and data[:len(MAGIC)].tobytes() == MAGIC)


def crops_header(data: np.ndarray) -> tuple[dict, int]:
    """The JSON header of an encoded container and the offset of its first patch's bytes."""
    if not is_encoded(data):
        raise ValueError("not an encoded crops container (no HMDCROP1 magic)")
    n = int.from_bytes(data[len(MAGIC):len(MAGIC) + 4].tobytes(), "little")
    start = len(MAGIC) + 4
    return json.loads(data[start:start + n].tobytes()), start + n


def decode_crops(data: np.ndarray, frames: np.ndarray | slice | None = None) -> np.ndarray:
    """The one crops reader: uint8 RGB ``(frames, [k,] H, W, 3)`` from a stored crops value.

    ``data`` is what the store holds: an :func:`encode_crops` container (decoded) or a raw
    uint8 array (passed through). ``frames`` optionally picks frames (first axis) before decoding.
    """
    data = np.asarray(data)
    if not is_encoded(data):
        if data.dtype != np.uint8 or data.ndim < 4 or data.shape[-1] != 3:
            raise ValueError(f"crops are {data.dtype} {data.shape}, expected uint8 (frames, [k,] H, "
                             "W, 3) RGB or an encoded crops container")
        return data if frames is None else data[frames]
    head, offset = crops_header(data)
    shape, lengths = tuple(head["shape"]), np.asarray(head["lengths"], np.int64)
    per_frame = int(np.prod(shape[1:-3], dtype=np.int64)) if len(shape) > 4 else 1
    ends = offset + np.cumsum(lengths)
    starts = ends - lengths
    if len(lengths) != shape[0] * per_frame or (ends[-1] if len(ends) else offset) != data.size:
        raise ValueError(f"corrupt crops container: {len(lengths)} patches / {data.size} bytes "
                         f"for shape {shape}")
    keep = np.arange(shape[0])[frames] if frames is not None else np.arange(shape[0])
    keep = np.atleast_1d(keep)
    out = np.empty((len(keep),) + shape[1:], np.uint8)
    flat = out.reshape(len(keep) * per_frame, *shape[-3:])
    for j, f in enumerate(keep):
        for p in range(per_frame):
            i = int(f) * per_frame + p
            img = cv2.imdecode(data[starts[i]:ends[i]], cv2.IMREAD_COLOR)
            if img is None or img.shape != tuple(shape[-3:]):
                raise ValueError(f"corrupt crops container: patch {i} does not decode to {shape[-3:]}")
            flat[j * per_frame + p] = img[..., ::-1]
    return out


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
