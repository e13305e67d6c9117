"""Animated faces for the demo corpus: 68-landmark offsets and a piecewise-affine image warp.

One real photograph (``features/assets/astronaut.png``, public domain) and its 68 iBUG landmarks
(``astronaut_landmarks.txt``, computed once with dlib, see the assets README) are turned into
24 "actors" (mirror, colour tint, placement, size, roll, small face-shape changes) and animated
per frame by offsets of the 68 landmarks:

* talking: jaw/mouth opening and lip rounding that follow the synthetic speech (``voice.py``);
* blinks: upper eyelids close onto the lower ones;
* head motion: a small smooth similarity (translation, roll, scale) plus an emotion-specific pose;
* expression: a combination of action-unit-like landmark displacements per emotion whose weight
  ramps in over ~0.5 s and then holds (with slow small variation), stronger for intensity 02.

All displacements are defined in units of the inter-ocular distance (IOD) with ``x`` pointing away
from the face midline ("out") and ``y`` down, so they mean the same on mirrored actors.

The warp is piecewise affine over a Delaunay mesh of the 68 landmarks plus a fixed ring of anchor
points around the head: per frame each output triangle's affine map to the photograph is solved,
the triangles are rasterised into a triangle-index image over the ring's bounding box and the
backward map (output pixel -> photo pixel) is filled from the per-triangle coefficients; outside
the ring the map is the actor's fixed placement (the background does not move). One ``cv2.remap``
renders the frame. Head motion moves the landmarks, not the ring, so only the head moves.

Ground truth landmarks are the deformed landmarks through the same transforms, in output pixels
(pixel centres at integer coordinates, as in OpenCV and dlib).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import Delaunay

from features.demo.style import mix_table

ASSETS = Path(__file__).resolve().parent.parent / "assets"
PHOTO = ASSETS / "astronaut.png"
LANDMARKS = ASSETS / "astronaut_landmarks.txt"

# iBUG 68 index permutation under a horizontal mirror (subject's right <-> left).
FLIP_68 = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])

REST_LIP_GAP = 0.15       # inner-lip gap of the rest pose, fraction of the photo's open mouth
MAP_STEP = 2              # the warp map is computed every MAP_STEP px and upsampled
MOUTH = np.arange(48, 68)  # outer (48-59) and inner (60-67) lip landmarks
TEETH_IOD = 0.09          # visible upper-teeth height in an open mouth (IOD units)
MOUTH_CAVITY = (30, 28, 70)  # BGR colour of the dark inside of an open mouth
RING_POINTS = 20          # fixed anchors around the head
RING_RADII = (0.8, 0.95)   # ring half-axes in units of the landmark bbox (width, height)


@functools.lru_cache(maxsize=1)
def load_photo() -> tuple[np.ndarray, np.ndarray]:
    """The bundled photo ``(512, 512, 3)`` uint8 BGR and its landmarks ``(68, 2)`` float32 px."""
    img = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{PHOTO}: cannot read the demo photograph")
    lmk = np.loadtxt(LANDMARKS, dtype=np.float32)
    if lmk.shape != (68, 2):
        raise ValueError(f"{LANDMARKS}: expected 68 lines 'x y', got shape {lmk.shape}")
    img.setflags(write=False)
    lmk.setflags(write=False)
    return img, lmk


def mirror_landmarks(lmk: np.ndarray, width: int) -> np.ndarray:
    """Landmarks ``(68, 2)`` of the horizontally mirrored image, re-indexed to iBUG semantics."""
    out = np.asarray(lmk, dtype=np.float32).copy()
    out[:, 0] = (width - 1) - out[:, 0]
    return out[FLIP_68]


def iod(lmk: np.ndarray) -> float:
    """Inter-ocular distance (px): distance between the two eye centres (points 36-41, 42-47)."""
    return float(np.linalg.norm(lmk[36:42].mean(0) - lmk[42:48].mean(0)))


# --- action-unit-like landmark displacements ---------------------------------------------------

def _au(entries: dict[tuple[int, ...], tuple[float, float]]) -> np.ndarray:
    """(68, 2) displacement in (out, down) IOD units from {landmark indices: (out, down)}."""
    d = np.zeros((68, 2), np.float32)
    for idx, (o, v) in entries.items():
        d[list(idx)] += (o, v)
    return d


# (out, down) in IOD units; "out" is away from the face midline. Left/right pairs share entries.
AU_SHAPES: dict[str, np.ndarray] = {
    # AU26/27 jaw drop (talking, surprise): chin and lower lip down, upper lip slightly up.
    "jaw_open": _au({
        (8,): (0, .22), (7, 9): (0, .19), (6, 10): (0, .13), (5, 11): (0, .07), (4, 12): (0, .03),
        (56, 57, 58): (0, .19), (55, 59): (0, .15), (65, 66, 67): (0, .21),
        (48, 54, 60, 64): (-.015, .08), (49, 53): (0, -.01), (50, 51, 52, 61, 62, 63): (0, -.015)}),
    # lip rounding (rounded vowels): corners in, lips forward (slightly open).
    "round": _au({(48, 54): (-.10, 0), (49, 53, 55, 59): (-.075, 0), (50, 52, 56, 58): (-.04, 0),
                  (61, 63, 65, 67): (-.055, 0), (61, 62, 63): (0, -.02), (65, 66, 67): (0, .02)}),
    # AU12 lip corner puller (+ a little AU6 cheek raise on the lower lids).
    "smile": _au({(48, 54): (.15, -.11), (49, 53): (0, -.04), (59, 55): (0, -.06),
                  (61, 63, 65, 67): (0, -.04), (50, 52): (0, -.025), (58, 56): (0, -.02),
                  (40, 41, 46, 47): (0, -.03), (31, 35): (.02, -.01), (3, 13): (.02, -.02)}),
    # AU15 lip corner depressor.
    "frown": _au({(48, 54): (.02, .14), (59, 55): (0, .10), (49, 53): (0, .06), (58, 56): (0, .05),
                  (61, 63): (0, .05), (67, 65): (0, .07), (57,): (0, .02)}),
    # AU1 inner brow raiser.
    "inner_brow_up": _au({(21, 22): (-.02, -.18), (20, 23): (0, -.12), (19, 24): (0, -.06),
                          (18, 25): (0, -.02)}),
    # AU2 outer brow raiser.
    "outer_brow_up": _au({(17, 26): (0, -.16), (18, 25): (0, -.15), (19, 24): (0, -.11),
                          (20, 23): (0, -.05)}),
    # AU4 brow lowerer (down and together) with a little lid narrowing.
    "brow_down": _au({(21, 22): (-.06, .09), (20, 23): (-.04, .085), (19, 24): (-.02, .07),
                      (18, 25): (0, .05), (17, 26): (0, .03), (37, 38, 43, 44): (0, .02),
                      (27,): (0, .03)}),
    # brows drawn together only (fear).
    "brow_together": _au({(21, 22): (-.08, 0), (20, 23): (-.05, 0), (19, 24): (-.02, 0)}),
    # AU5 upper lid raiser (eyes wide).
    "lids_wide": _au({(37, 38, 43, 44): (0, -.07), (40, 41, 46, 47): (0, .025)}),
    # AU7 lid tightener (narrowed eyes; the photo's eye opening is ~0.14 IOD).
    "lids_tight": _au({(40, 41, 46, 47): (0, -.025), (37, 38, 43, 44): (0, .015)}),
    # AU9 nose wrinkler (nose up, inner brows pulled down).
    "nose_wrinkle": _au({(31, 32, 33, 34, 35): (0, -.08), (31, 35): (.02, 0), (30,): (0, -.06),
                         (29,): (0, -.04), (28,): (0, -.02), (21, 22): (-.02, .03),
                         (50, 51, 52): (0, -.02), (49, 53): (0, -.015)}),
    # AU10 upper lip raiser.
    "upper_lip_up": _au({(50, 51, 52): (0, -.08), (49, 53): (0, -.065), (61, 62, 63): (0, -.09),
                         (48, 54, 60, 64): (0, -.03)}),
    # AU20 lip stretcher.
    "lip_stretch": _au({(48, 54): (.13, .03), (60, 64): (.11, .02), (49, 53, 59, 55): (.06, .01),
                        (50, 52, 58, 56): (.02, 0)}),
    # AU24 lip presser: lips thinner and a little narrower.
    "lip_press": _au({(49, 50, 51, 52, 53): (0, .035), (55, 56, 57, 58, 59): (0, -.035),
                      (48, 54): (-.04, 0), (49, 53, 55, 59): (-.03, 0), (50, 52, 56, 58): (-.015, 0),
                      (61, 63, 65, 67): (-.02, 0)}),
}

# The inner mouth corners (60, 64) sit ~2 px from the outer ones (48, 54) in the photo: they move
# with them, so the tiny triangles between them never fold over.
for _d in AU_SHAPES.values():
    _d[60], _d[64] = _d[48], _d[54]

# Upper/lower pairs that must not cross: eyelids and inner lips.
LID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))
LIP_PAIRS = ((61, 67), (62, 66), (63, 65),                 # inner lips
             (50, 61), (51, 62), (52, 63), (65, 56), (66, 57), (67, 58))  # lip thickness
MIN_GAP = 0.3             # photo px kept between the members of a pair

# Emotion recipes: action-unit weights at intensity 01 (normal). Calm is a slight relaxed smile.
EXPRESSIONS: dict[int, dict[str, float]] = {
    1: {},                                                                    # neutral
    2: {"smile": 0.35, "lids_tight": 0.35},                                   # calm
    3: {"smile": 1.0, "lids_tight": 0.5, "jaw_open": 0.12},                   # happy
    4: {"inner_brow_up": 1.0, "brow_together": 0.5, "frown": 1.0,             # sad
        "lids_tight": 0.3},
    5: {"brow_down": 1.0, "lids_tight": 0.8, "lip_press": 1.0,                # angry
        "nose_wrinkle": 0.2},
    6: {"inner_brow_up": 1.0, "outer_brow_up": 0.5, "brow_together": 0.7,     # fearful
        "lids_wide": 1.0, "lip_stretch": 1.0, "jaw_open": 0.15},
    7: {"nose_wrinkle": 1.0, "upper_lip_up": 1.0, "brow_down": 0.6,           # disgust
        "frown": 0.3, "lids_tight": 0.4},
    8: {"inner_brow_up": 1.0, "outer_brow_up": 1.0, "lids_wide": 1.0,         # surprised
        "jaw_open": 0.6},
}
STRONG_FACTOR = 1.45       # expression weight of intensity 02 relative to 01
# Jaw opening per unit of speech mouth-opening (articulation effort), x1.25 for intensity 02.
TALK_GAIN = {1: 0.8, 2: 0.6, 3: 1.0, 4: 0.55, 5: 1.2, 6: 0.9, 7: 0.7, 8: 1.1}
BLINK_RATE = {1: 0.35, 2: 0.2, 3: 0.35, 4: 0.3, 5: 0.25, 6: 0.6, 7: 0.35, 8: 0.15}  # per s
BLINK_DURATION = {2: 0.32}                                                   # s (default 0.2)
# Emotion-specific head motion: (head lowered by dy face heights, scale = leaning towards the
# camera, amplitude factor of the random head motion), reached with the expression ramp.
HEAD_POSE = {1: (0, 1, 1.0), 2: (0.005, 1, 0.6), 3: (-0.005, 1.01, 1.3), 4: (0.03, 0.985, 0.6),
             5: (0, 1.03, 1.3), 6: (-0.01, 0.98, 1.2), 7: (0.01, 0.99, 1.0), 8: (-0.02, 1.02, 1.2)}


@dataclasses.dataclass
class ActorFace:
    """One demo actor's face: tinted (maybe mirrored) photo, base shape, placement and mesh.

    ``base`` (68, 2) float32 are the actor's rest landmarks in photo px (photo landmarks + the
    actor's shape change + the closed-mouth rest pose); ``texture`` the photo landmarks they are
    sampled from. ``place`` (2, 3) maps photo px to output px. ``triangles`` (K, 3) index
    ``texture``/``base`` followed by the ``ring`` (R, 2) anchors.
    """

    actor: int
    width: int
    height: int
    photo: np.ndarray                 # (512, 512, 3) uint8 BGR, tinted, maybe mirrored
    texture: np.ndarray               # (68, 2) photo landmarks (px)
    base: np.ndarray                  # (68, 2) rest landmarks (px)
    ring: np.ndarray                  # (R, 2) fixed anchors (photo px)
    place: np.ndarray                 # (2, 3) photo px -> output px
    triangles: np.ndarray             # (K, 3) int
    au: dict[str, np.ndarray]         # name -> (68, 2) displacement in photo px at weight 1
    expressivity: dict[str, float]    # per-AU weight factor of this actor
    mirrored: bool
    face_height_px: float             # brow-to-chin height in output px
    background: np.ndarray            # (H, W, 3) uint8: the photo through ``place`` (outside ring)


def _rest_pose(lmk: np.ndarray, unit: float) -> np.ndarray:
    """Displacement (68, 2) px that closes the photo's open smiling mouth into a neutral rest."""
    d = np.zeros((68, 2), np.float32)
    for up, low in ((61, 67), (62, 66), (63, 65)):
        mid = 0.5 * (lmk[up, 1] + lmk[low, 1])
        half = REST_LIP_GAP * 0.5 * (lmk[low, 1] - lmk[up, 1])   # lips slightly parted
        d[up, 1] = (mid - half) - lmk[up, 1]
        d[low, 1] = (mid + half) - lmk[low, 1]
    # The outer lips follow part of the way; the smile is reduced (corners in and down).
    for outer, inner in ((50, 61), (51, 62), (52, 63)):
        d[outer, 1] = 0.45 * d[inner, 1]
    for outer, inner in ((58, 67), (57, 66), (56, 65)):
        d[outer, 1] = 0.55 * d[inner, 1]
    d[MOUTH, 0] -= 0.08 * unit * _mouth_spread(lmk)
    for i, k in ((48, 1.0), (54, 1.0), (60, 1.0), (64, 1.0), (49, 0.4), (53, 0.4), (59, 0.4),
                 (55, 0.4), (50, 0.2), (52, 0.2), (58, 0.2), (56, 0.2), (61, 0.3), (63, 0.3),
                 (65, 0.3), (67, 0.3)):
        d[i, 1] += 0.09 * unit * k
    return d


def _mouth_spread(lmk: np.ndarray) -> np.ndarray:
    """(20,) signed horizontal weight of the mouth points: -1/+1 at the corners 48/54, 0 mid-mouth.

    Horizontal lip motion is a scaling about the mouth centre (the corner's "out" displacement
    times this weight), so the lip points keep their left-to-right order.
    """
    mid = 0.5 * (lmk[48, 0] + lmk[54, 0])
    return (lmk[MOUTH, 0] - mid) / (0.5 * abs(lmk[54, 0] - lmk[48, 0]))


def _oriented(shape: np.ndarray, lmk: np.ndarray, unit: float) -> np.ndarray:
    """(out, down) IOD-unit displacement -> photo px for this landmark layout.

    For the mouth only the corners' (48, 54) horizontal values count (see :func:`_mouth_spread`).
    """
    mid_x = float(lmk[27:31, 0].mean())
    out = np.sign(lmk[:, 0] - mid_x)
    out[out == 0] = 1.0
    d = shape.astype(np.float32).copy()
    d[:, 0] *= out
    d[MOUTH, 0] = 0.5 * (shape[48, 0] + shape[54, 0]) * _mouth_spread(lmk)
    return d * unit


def _shape_change(lmk: np.ndarray, unit: float, rng: np.random.Generator) -> np.ndarray:
    """Small per-actor face-shape change (68, 2) px: face width, eye spacing, mouth width, etc."""
    d = np.zeros((68, 2), np.float32)
    c = lmk.mean(0)
    jaw = np.arange(0, 17)
    d[jaw, 0] += (lmk[jaw, 0] - c[0]) * rng.uniform(-0.06, 0.06)
    mouth = np.arange(48, 68)
    mc = lmk[mouth].mean(0)
    d[mouth, 0] += (lmk[mouth, 0] - mc[0]) * rng.uniform(-0.08, 0.08)
    d[mouth, 1] += unit * rng.uniform(-0.04, 0.04)
    mid_x = float(lmk[27:31, 0].mean())
    eyes_brows = np.r_[17:27, 36:48]
    d[eyes_brows, 0] += np.sign(lmk[eyes_brows, 0] - mid_x) * unit * rng.uniform(-0.035, 0.035)
    d[17:27, 1] += unit * rng.uniform(-0.06, 0.06)
    d[30:36, 1] += unit * rng.uniform(-0.04, 0.04)
    d[5:12, 1] += unit * rng.uniform(-0.05, 0.05) * np.array([.3, .6, .9, 1, .9, .6, .3])
    return d


def _ring(lmk: np.ndarray) -> np.ndarray:
    """Fixed anchors (R, 2) on an ellipse around the head (covers hair, ears and the neck top)."""
    lo, hi = lmk.min(0), lmk.max(0)
    size = hi - lo
    centre = 0.5 * (lo + hi) - np.array([0.0, 0.03 * size[1]])
    ang = np.linspace(0, 2 * np.pi, RING_POINTS, endpoint=False)
    return np.stack([centre[0] + RING_RADII[0] * size[0] * np.cos(ang),
                     centre[1] + RING_RADII[1] * size[1] * np.sin(ang)], 1).astype(np.float32)


def similarity(scale: float, angle_deg: float, src_centre: np.ndarray,
               dst_centre: np.ndarray) -> np.ndarray:
    """(2, 3) similarity that maps ``src_centre`` to ``dst_centre`` with scale and rotation."""
    a = np.deg2rad(angle_deg)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    t = np.asarray(dst_centre, float) - r @ np.asarray(src_centre, float)
    return np.hstack([r, t[:, None]]).astype(np.float64)


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to points (N, 2)."""
    return pts @ m[:, :2].T + m[:, 2]


def invert_affine(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(m, np.float64))


def build_actor(seed: int, actor: int, width: int, height: int) -> ActorFace:
    """Derive actor ``actor``'s look deterministically from ``(seed, actor)``, for a WxH frame.

    Choices (the papers are silent; RAVDESS shows one frontal face per clip): half the actors are
    mirrored; colour tint 0.85-1.15 per channel; the brow-to-chin height is 48-58 % of the frame
    height (large enough for a HOG face detector on a half-size frame); the face centre is within
    +-7 % (x) / +-3 % (y) of the frame centre; roll +-4 degrees; small face-shape changes.
    """
    rng = np.random.default_rng([int(seed), int(actor), 1])
    photo0, lmk0 = load_photo()
    mirrored = bool(rng.random() < 0.5)
    photo = np.ascontiguousarray(photo0[:, ::-1]) if mirrored else photo0.copy()
    texture = mirror_landmarks(lmk0, photo0.shape[1]) if mirrored else lmk0.astype(np.float32)
    # Colour tint (skin tone / white balance / exposure) via a per-channel look-up table.
    gains = rng.uniform(0.85, 1.15, 3) * rng.uniform(0.92, 1.08)
    gamma = rng.uniform(0.85, 1.15)
    ramp = np.arange(256, dtype=np.float64) / 255.0
    for ch in range(3):
        lut = np.clip(255.0 * gains[ch] * ramp ** gamma, 0, 255).round().astype(np.uint8)
        photo[..., ch] = cv2.LUT(photo[..., ch], lut)
    unit = iod(texture)
    base = texture + _shape_change(texture, unit, rng) + _rest_pose(texture, unit)
    ring = _ring(texture)
    # Placement: upright face (undo the photo's roll) + actor roll, scaled to the frame height.
    eye_l, eye_r = texture[36:42].mean(0), texture[42:48].mean(0)
    photo_roll = np.degrees(np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0]))
    face_h = float(texture[8, 1] - texture[17:27, 1].min())
    frac = rng.uniform(0.48, 0.58)
    scale = frac * height / face_h
    centre_src = 0.5 * (texture.min(0) + texture.max(0))
    centre_dst = np.array([width * (0.5 + rng.uniform(-0.07, 0.07)),
                           height * (0.5 + rng.uniform(-0.03, 0.03))])
    place = similarity(scale, -photo_roll + rng.uniform(-4, 4), centre_src, centre_dst)
    tri = Delaunay(np.vstack([texture, ring]).astype(np.float64)).simplices.astype(np.int32)
    if len(tri) > 254:
        raise RuntimeError(f"mesh has {len(tri)} triangles; the uint8 index image holds 254")
    au = {name: _oriented(shape, texture, unit) for name, shape in AU_SHAPES.items()}
    expressivity = {name: float(rng.uniform(0.85, 1.15)) for name in AU_SHAPES}
    background = cv2.warpAffine(photo, place, (int(width), int(height)), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    return ActorFace(actor=int(actor), width=int(width), height=int(height), photo=photo,
                     texture=texture, base=base.astype(np.float32), ring=ring, place=place,
                     triangles=tri, au=au, expressivity=expressivity,
                     mirrored=mirrored, face_height_px=face_h * scale, background=background)


@functools.lru_cache(maxsize=4)
def cached_actor(seed: int, actor: int, width: int, height: int) -> ActorFace:
    """:func:`build_actor`, cached per process (a worker renders many clips of one actor)."""
    return build_actor(seed, actor, width, height)


# --- per-clip animation ------------------------------------------------------------------------

def _smooth_noise(rng: np.random.Generator, n: int, fps: float, n_sines: int = 3,
                  f_lo: float = 0.15, f_hi: float = 1.0) -> np.ndarray:
    """(n,) smooth random signal, unit amplitude, a sum of slow sines with random phases."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    for _ in range(n_sines):
        out += np.sin(2 * np.pi * rng.uniform(f_lo, f_hi) * t + rng.uniform(0, 2 * np.pi))
    return out / np.sqrt(n_sines / 2)


def blink_curve(rng: np.random.Generator, n: int, fps: float, rate: float,
                duration: float) -> np.ndarray:
    """(n,) eyelid closure in [0, 1]: blinks at Poisson times (rate per s), raised-cosine shape."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    s = rng.exponential(1.0 / rate) * 0.6
    while s < t[-1]:
        d = duration * rng.uniform(0.85, 1.2)
        u = (t - s) / d
        m = (u >= 0) & (u <= 1)
        out[m] = np.maximum(out[m], rng.uniform(0.9, 1.0) * np.sin(np.pi * u[m]) ** 2)
        s += d + rng.exponential(1.0 / rate)
    return out


def _separate_pairs(base: np.ndarray, offsets: np.ndarray,
                    pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Keep each (upper, lower) landmark pair at least ``MIN_GAP`` apart vertically (frames, 68, 2)."""
    out = offsets.copy()
    for up, low in pairs:
        yu = base[up, 1] + out[:, up, 1]
        yl = base[low, 1] + out[:, low, 1]
        bad = yl - yu < MIN_GAP
        mid = 0.5 * (yu + yl)
        out[bad, up, 1] = (mid - 0.5 * MIN_GAP)[bad] - base[up, 1]
        out[bad, low, 1] = (mid + 0.5 * MIN_GAP)[bad] - base[low, 1]
    return out


def _unfold(face: ActorFace, offsets: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Safety net: shrink the offsets of frames whose mesh would fold over (a triangle flipped).

    The action units are tuned so that this does not happen in practice (a test checks it stays
    rare); where it does, the frame's offsets are scaled by the largest factor in 1.0, 0.95, ...
    that unfolds the mesh, and the factor is smoothed over +-3 frames to avoid a jump.
    """
    n = len(offsets)
    factor = np.ones(n)
    for i in range(n):
        f = 1.0
        while f > 0 and len(folded_triangles(face, f * offsets[i], head[i])):
            f = round(f - 0.05, 2)
        factor[i] = max(f, 0.0)
    if factor.min() == 1.0:
        return offsets
    lo = np.array([factor[max(0, i - 3):i + 4].min() for i in range(n)])
    return (offsets * lo[:, None, None]).astype(np.float32)


@dataclasses.dataclass
class Motion:
    """Per-frame animation of one clip: landmark offsets (photo px) and head similarity (output)."""

    offsets: np.ndarray      # (frames, 68, 2) displacement from the actor's base (photo px)
    head: np.ndarray         # (frames, 2, 3) similarity applied after the placement (output px)
    expression: np.ndarray   # (frames,) expression weight (0..~1.6), for inspection
    blink: np.ndarray        # (frames,) eyelid closure 0..1


def animate(face: ActorFace, emotion: int, intensity: int, mouth_open: np.ndarray,
            mouth_round: np.ndarray, fps: float, rng: np.random.Generator,
            mix: np.ndarray | None = None, head_motion: float = 1.0,
            pose_offset: tuple[float, float] = (0.0, 0.0)) -> Motion:
    """Landmark offsets and head motion for every frame of one clip.

    ``mouth_open``/``mouth_round`` (frames,) in [0, 1] come from the speech synthesis so the jaw
    follows the audio. The expression ramps in (smoothstep, 0.45-0.6 s, starting at 0-0.25 s),
    then holds with +-8 % slow variation. ``mix`` (9,) weights the emotions' deviations from
    neutral (``style.clip_mix``: intensity, actor style and confusions included); None = the
    plain recipe of ``emotion``, x ``STRONG_FACTOR`` for intensity 02 and x U(0.85, 1.15).
    Every emotion-specific cue (action units, talking effort, blinks, head pose) follows the
    mixture. ``head_motion`` scales the random head motion; ``pose_offset`` (dy in face
    heights, scale - 1) is the actor's own head-pose habit for this emotion.
    """
    n = len(mouth_open)
    t = np.arange(n) / fps
    if mix is None:
        mix = np.zeros(9)
        mix[emotion] = (STRONG_FACTOR if intensity == 2 else 1.0) * rng.uniform(0.85, 1.15)
        talk_boost = 1.25 if intensity == 2 else 1.0
    else:
        mix = np.asarray(mix, float)
        talk_boost = 1.0
    t0, ramp = rng.uniform(0.0, 0.25), rng.uniform(0.45, 0.6)
    u = np.clip((t - t0) / ramp, 0, 1)
    expr = u * u * (3 - 2 * u) * (1 + 0.08 * _smooth_noise(rng, n, fps))
    shape = np.zeros((68, 2), np.float32)
    weights: dict[str, float] = {}
    for e in range(2, 9):
        if mix[e]:
            for name, w in EXPRESSIONS[e].items():
                weights[name] = weights.get(name, 0.0) + mix[e] * w
    for name, w in weights.items():
        shape += w * face.expressivity[name] * rng.uniform(0.9, 1.1) * face.au[name]
    talk = max(0.3, mix_table(TALK_GAIN, mix)) * talk_boost * rng.uniform(0.85, 1.15)
    blink = blink_curve(rng, n, fps, float(np.clip(mix_table(BLINK_RATE, mix), 0.05, 1.0)),
                        float(np.clip(mix_table(BLINK_DURATION, mix, 0.2), 0.12, 0.4)))
    offsets = (expr[:, None, None] * shape[None]
               + (talk * np.clip(mouth_open, 0, 1))[:, None, None] * face.au["jaw_open"][None]
               + np.clip(mouth_round, 0, 1)[:, None, None] * face.au["round"][None])
    offsets = _separate_pairs(face.base, offsets, LID_PAIRS + LIP_PAIRS)
    # Blink: the upper lid travels 90 % of the current gap down, the lower lid 10 % up.
    for up, low in LID_PAIRS:
        gap = (face.base[low, 1] + offsets[:, low, 1]) - (face.base[up, 1] + offsets[:, up, 1])
        offsets[:, up, 1] += blink * 0.9 * (gap - MIN_GAP)
        offsets[:, low, 1] -= blink * 0.1 * (gap - MIN_GAP)
    # Head motion: smooth jitter (translation ~1.5 % of the face height, roll ~1.5 deg, scale
    # ~1.2 %, times head_motion) plus the emotion pose, reached with the same ramp as the expression.
    dy = sum(mix[e] * HEAD_POSE[e][0] for e in range(2, 9)) + pose_offset[0]
    sc = 1 + sum(mix[e] * (HEAD_POSE[e][1] - 1) for e in range(2, 9)) + pose_offset[1]
    amp = max(0.3, 1 + sum(mix[e] * (HEAD_POSE[e][2] - 1) for e in range(2, 9)))
    fh = face.face_height_px
    k = amp * head_motion * rng.uniform(0.7, 1.3)
    tx = k * 0.015 * fh * _smooth_noise(rng, n, fps)
    ty = k * 0.012 * fh * _smooth_noise(rng, n, fps) + u * dy * fh
    rot = k * 1.5 * _smooth_noise(rng, n, fps)
    scl = 1 + k * 0.012 * _smooth_noise(rng, n, fps) + u * (sc - 1)
    centre = apply_affine(face.place, face.base.mean(0, keepdims=True))[0]
    head = np.stack([similarity(scl[i], rot[i], centre, centre + (tx[i], ty[i])) for i in range(n)])
    offsets = _unfold(face, offsets.astype(np.float32), head)
    return Motion(offsets=offsets.astype(np.float32), head=head, expression=expr, blink=blink)


def lit(face: ActorFace, rng: np.random.Generator, amount: float) -> ActorFace:
    """The actor under this clip's lighting: exposure x exp(N(0, amount / 2)) and a side light
    (gain 1 +- U(0, amount) from one side of the photo to the other). ``amount`` 0: unchanged."""
    if amount <= 0:
        return face
    exposure = float(np.exp(rng.normal(0, amount / 2)))
    side = float(rng.uniform(-amount, amount))
    w = face.photo.shape[1]
    gain = exposure * (1 + side * (np.arange(w, dtype=np.float32) / (w - 1) * 2 - 1))
    photo = np.clip(face.photo.astype(np.float32) * gain[None, :, None], 0, 255).astype(np.uint8)
    background = cv2.warpAffine(photo, face.place, (face.width, face.height),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return dataclasses.replace(face, photo=photo, background=background)


def flicker(rng: np.random.Generator, n: int, fps: float, amount: float) -> np.ndarray:
    """(n,) per-frame brightness factor around 1 (slow, +- amount / 4)."""
    if amount <= 0:
        return np.ones(n)
    return 1 + 0.25 * amount * _smooth_noise(rng, n, fps, f_lo=0.3, f_hi=2.0) / 2


def apply_gain(frame: np.ndarray, gain: float) -> np.ndarray:
    """``frame`` (uint8) x ``gain`` through a look-up table (saturating)."""
    if gain == 1.0:
        return frame
    lut = np.clip(np.arange(256) * gain, 0, 255).round().astype(np.uint8)
    return cv2.LUT(frame, lut)


def landmarks(face: ActorFace, offsets: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Ground truth (68, 2) output px of one frame: base + offsets through placement and head."""
    return apply_affine(head, apply_affine(face.place, face.base + offsets)).astype(np.float32)


def _signed_areas(verts: np.ndarray, tri: np.ndarray) -> np.ndarray:
    p = verts[tri]
    return ((p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1])
            - (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1]))


def folded_triangles(face: ActorFace, offsets: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Indices of mesh triangles whose output orientation is flipped w.r.t. the photo (want none)."""
    out = np.vstack([landmarks(face, offsets, head), apply_affine(face.place, face.ring)])
    tex = np.vstack([face.texture, face.ring])
    sign = np.sign(np.linalg.det(face.place[:, :2]))
    return np.flatnonzero(_signed_areas(out, face.triangles) * sign
                          * _signed_areas(tex, face.triangles) < 0)


def render(face: ActorFace, offsets: np.ndarray, head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame ``(H, W, 3)`` uint8 BGR and its landmarks ``(68, 2)`` float32 output px.

    Piecewise-affine backward warp: output mesh = [landmarks through placement and head motion;
    ring through the placement only], texture mesh = [photo landmarks; ring]. Only the ring's
    bounding box is re-rendered; the rest of the frame is the actor's still background. The
    backward map is evaluated exactly on a grid of every ``MAP_STEP``-th pixel (aligned with
    ``cv2.resize``'s pixel-centre convention) and bilinearly upsampled: the map is piecewise
    linear and continuous, so this costs at most a small fraction of a pixel inside triangles
    narrower than the step, for a 4x cheaper map.
    """
    lmk_out = landmarks(face, offsets, head)
    verts_out = np.vstack([lmk_out, apply_affine(face.place, face.ring)]).astype(np.float64)
    verts_tex = np.vstack([face.texture, face.ring]).astype(np.float64)
    tri = face.triangles
    h, w = face.height, face.width
    st = MAP_STEP
    lo = np.floor(verts_out.min(0)).astype(int) - st
    hi = np.ceil(verts_out.max(0)).astype(int) + st
    x0, y0 = max(lo[0], 0), max(lo[1], 0)
    x1, y1 = min(hi[0], w), min(hi[1], h)
    frame = face.background.copy()
    if x1 - x0 < st or y1 - y0 < st:
        return frame, lmk_out
    cw, ch = -(-(x1 - x0) // st), -(-(y1 - y0) // st)
    x1, y1 = min(x0 + cw * st, w), min(y0 + ch * st, h)
    # Coarse grid point (j, i) sits at full-resolution pixel (x0 + st*j + (st-1)/2, ...).
    org = np.array([x0 + 0.5 * (st - 1), y0 + 0.5 * (st - 1)])
    p = (verts_out[tri] - org) / st                       # (K, 3, 2) corners in coarse units
    q = np.concatenate([p, np.ones(p.shape[:2] + (1,))], 2)  # (K, 3, 3)
    ok = np.abs(np.linalg.det(q)) > 1e-9
    q[~ok] = np.eye(3)
    coef = np.linalg.solve(q, verts_tex[tri])             # (K, 3, 2): [j, i, 1] @ coef = tex
    inv = invert_affine(face.place)                       # outside the mesh: rest placement
    g = np.array([[st * inv[0, 0], st * inv[0, 1], inv[0, :2] @ org + inv[0, 2]],
                  [st * inv[1, 0], st * inv[1, 1], inv[1, :2] @ org + inv[1, 2]]])
    # Per-pixel coefficients through 256-entry look-up tables (row 0: outside the mesh).
    table = np.zeros((6, 256), np.float32)
    table[:, 0] = g.ravel()
    table[0:3, 1:len(tri) + 1] = coef[:, :, 0].T
    table[3:6, 1:len(tri) + 1] = coef[:, :, 1].T
    ids = np.zeros((ch, cw), np.uint8)
    pts = np.round(p * 16).astype(np.int32)
    for k in np.flatnonzero(ok):
        cv2.fillConvexPoly(ids, pts[k], int(k + 1), lineType=cv2.LINE_8, shift=4)
    c = [cv2.LUT(ids, table[m]) for m in range(6)]        # 6 x (ch, cw) float32
    jj = np.arange(cw, dtype=np.float32)[None, :]
    ii = np.arange(ch, dtype=np.float32)[:, None]
    maps = np.empty((ch, cw, 2), np.float32)
    maps[..., 0] = c[0] * jj + c[1] * ii + c[2]
    maps[..., 1] = c[3] * jj + c[4] * ii + c[5]
    if st > 1:
        maps = cv2.resize(maps, (cw * st, ch * st), interpolation=cv2.INTER_LINEAR)
    frame[y0:y1, x0:x1] = cv2.remap(face.photo, maps[:y1 - y0, :x1 - x0], None,
                                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    _shade_mouth(frame, lmk_out)
    return frame, lmk_out


def _shade_mouth(frame: np.ndarray, lmk: np.ndarray) -> None:
    """Darken the inside of an open mouth below the upper teeth (in place).

    The photo's mouth is only slightly open, so opening it further stretches the teeth; an open
    mouth shows the upper teeth and then the dark oral cavity. Inside the inner-lip polygon
    (points 60-67), pixels more than ``TEETH_IOD`` below the upper inner lip fade to
    ``MOUTH_CAVITY`` over half that distance.
    """
    unit = float(np.linalg.norm(lmk[36:42].mean(0) - lmk[42:48].mean(0)))
    top = float(lmk[61:64, 1].mean())
    teeth = TEETH_IOD * unit
    if float(lmk[65:68, 1].mean()) - top <= teeth:
        return
    poly = lmk[60:68]
    x0, y0 = np.floor(poly.min(0)).astype(int)
    x1, y1 = np.ceil(poly.max(0)).astype(int) + 1
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, frame.shape[1]), min(y1, frame.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 255,
                 lineType=cv2.LINE_AA, shift=4)
    rows = np.arange(y0, y1, dtype=np.float32)[:, None]
    alpha = np.clip((rows - top - teeth) / teeth, 0, 1) * 0.92 * (mask / 255.0)
    alpha = cv2.GaussianBlur(alpha.astype(np.float32), (0, 0), max(0.03 * unit, 0.5))
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    roi += alpha[..., None] * (np.array(MOUTH_CAVITY, np.float32) - roi)
    frame[y0:y1, x0:x1] = np.round(roi).astype(np.uint8)
