"""The embedded (offline) tracker: one video in, OpenFace's 714-column track out.

Per frame (streamed with ``features.media.video.iter_frames``; a video is never held in memory):

1. *Acquire* (no face yet, or the track was lost): dlib's face detector on the frame downscaled
   by ``detect_scale`` (full resolution as a fallback on the first attempt and on every
   ``detect_every``-th consecutive failed one); the largest face is taken (``detect.pick_face``).
   After the first acquisition, a re-acquired face must be the same person
   (``identity``: descriptor distance and scale); another face gives ``success = 0`` rows
   counted as a person switch.
2. *Track* (otherwise): the box comes from the previous frame's landmarks
   (``landmarks.BoxModel``); every ``detect_every`` frames the detector re-anchors the box,
   searching only the region around the face (the detection nearest the box).
3. Landmarks: dlib's 68-point shape predictor on the grayscale of that region only.
4. Fit quality: appearance similarity (NCC) to the face patch stored at the last detection, the
   per-frame jump (``max_jump`` x inter-ocular distance, ``max_scale_change``) and the rigid 3D
   fit's reprojection error. Below ``min_similarity``, on a jump, or above ``max_reprojection``
   x inter-ocular distance the frame is re-acquired at once; if that fails the row is kept with
   ``success = 0`` and zeros elsewhere, as OpenFace leaves failed frames.
5. ``confidence``: dlib's HOG face score of the tracked face (``detect.face_score``, every
   ``confidence_every`` frames and every frame while low) mapped to 0..1
   (:func:`score_confidence`); below ``min_confidence`` the landmarks are kept for tracking but the
   row is ``success = 0`` (a hand over the face: landmarks drawn on the fingers).
6. Head pose and 3D landmarks (``pose``), eye landmarks and gaze (``eyes``); a closed eye (no
   pupil located) gets zero gaze vectors and angles (invalid gaze, see
   ``features.tracks.frames.gaze_valid``).

Action units, pose and shape come from one of two sources (:func:`au_models_for`; the report
and the CSV notes say which):

* **OpenFace's own models** (when the user has them: ``track.openface_models``, see
  :mod:`features.tracker.openface_models`): per tracked frame OpenFace's PDM is fitted to the
  landmarks (``pdm``: ``p_scale .. p_ty``, ``p_0 .. p_33``), head pose and the 3D landmarks come
  from that per-person shape, and the aligned face's FHOG and the shape feed OpenFace's linear
  AU models (:mod:`features.tracker.openface_aus`, ``track.au_models: dynamic | static``) with
  its per-video post-processing after the last frame. No neutral-clip re-basing: the dynamic
  models calibrate per video themselves.
* **geometric fallback** (no model files): after the last frame, AUs from pose-decorrelated
  head-frame measures against a per-AU low-percentile baseline over the clip (``aus``; the track
  stage re-bases them on the actor's neutral clip), the 6 rigid PDM parameters from the rigid
  fit (``pose.pdm_rigid``) and ``p_0..p_33`` = 0 (no point-distribution model is fitted).

:func:`report` gives the CSV's companion report.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from features.media.video import VideoError, iter_frames, truncation
from features.tracker import aus, identity, openface_aus, openface_models, pdm
from features.tracker.detect import detect_face, detect_near, face_score
from features.tracker.eyes import eye_geometry, eyelid_points, locate_pupil
from features.tracker.landmarks import (
    BoxModel,
    appearance,
    fit_landmarks,
    roi_bounds,
    shape_frame,
    similarity,
)
from features.tracker.models import camera_matrix, mean_face_3d
from features.tracker.pose import PoseFit, fit_pose, lift_landmarks, pdm_rigid, to_head_frame
from features.tracks.openface import DATA_BLOCKS, OpenFaceTrack, gaze_angles


@dataclasses.dataclass(frozen=True)
class TrackerSettings:
    """Knobs of the embedded tracker (``track`` section of params.yaml)."""

    detect_every: int = 10          # re-anchor the box with the detector every N frames
    detect_scale: float = 0.5       # downscale factor of the frame for (re)acquisition
    min_similarity: float = 0.5     # appearance NCC below which the track is lost
    max_reprojection: float = 0.12  # rigid-fit RMS error / inter-ocular distance limit
    min_confidence: float = 0.4     # success = 0 below this confidence
    confidence_every: int = 3       # face score every N tracked frames (every frame when low)
    max_jump: float = 0.5           # landmark centre move / inter-ocular distance per frame
    max_scale_change: float = 1.4   # inter-ocular distance ratio allowed for the same person
    identity_distance: float = 0.6  # dlib descriptor distance below which a face is the same person
    baseline_percentile: float = aus.BASELINE_PERCENTILE
    au_unfollowed: str = "zero"    # zero | keep: AUs the landmarks cannot follow
    openface_models: str = ""       # OpenFace model folder ("" = $OPENFACE_MODELS_DIR, user folder)
    au_models: str = "dynamic"      # dynamic | static: OpenFace's AU model set (-au_static)

    @staticmethod
    def from_params(track: dict[str, Any]) -> TrackerSettings:
        """Settings from the params ``track`` section (missing keys keep their defaults)."""
        d = TrackerSettings()
        vals = {}
        for f in dataclasses.fields(TrackerSettings):
            default = getattr(d, f.name)
            v = track.get(f.name, default)
            vals[f.name] = type(default)(default if v is None else v)
        s = TrackerSettings(**vals)
        if s.detect_every < 1:
            raise ValueError(f"track.detect_every must be >= 1, got {s.detect_every}")
        if s.confidence_every < 1:
            raise ValueError(f"track.confidence_every must be >= 1, got {s.confidence_every}")
        if not 0 < s.detect_scale <= 1:
            raise ValueError(f"track.detect_scale must be in (0, 1], got {s.detect_scale}")
        if not 0 <= s.min_confidence <= 1:
            raise ValueError(f"track.min_confidence must be in [0, 1], got {s.min_confidence}")
        if s.au_models not in openface_models.INDEX:
            raise ValueError(f"track.au_models must be dynamic or static, got {s.au_models!r}")
        if s.au_unfollowed not in ("zero", "keep"):
            raise ValueError(f"track.au_unfollowed must be zero or keep, got {s.au_unfollowed!r}")
        if s.max_scale_change < 1:
            raise ValueError(f"track.max_scale_change must be >= 1, got {s.max_scale_change}")
        if not 0 <= s.baseline_percentile < 50:
            raise ValueError(f"track.baseline_percentile must be in [0, 50), got "
                             f"{s.baseline_percentile}")
        return s


@dataclasses.dataclass
class FrameResult:
    """One frame: ``success``, ``confidence``, ``lmk2d (68, 2)`` px, ``lmk3d (68, 3)`` mm,
    ``pose`` (None when not tracked), ``eye2d (56, 2)``, ``eye3d (56, 3)``, ``gaze (2, 3)``,
    ``eyes_open`` (both pupils located: gaze valid), ``switch`` (another person's face was
    seen in place of the tracked one)."""

    success: bool
    confidence: float
    lmk2d: np.ndarray | None = None
    lmk3d: np.ndarray | None = None
    pose: PoseFit | None = None
    eye2d: np.ndarray | None = None
    eye3d: np.ndarray | None = None
    gaze: np.ndarray | None = None
    detected: bool = False
    eyes_open: bool = True
    switch: bool = False
    low: bool = False     # a face was fitted, but its confidence is below min_confidence
    pdm: np.ndarray | None = None          # (40,) OpenFace PDM parameters (with OpenFace models)
    au_features: np.ndarray | None = None  # (4702,) OpenFace AU input (with OpenFace models)
    au_seconds: float = 0.0                # time spent on the PDM fit and the AU features


# dlib face score (detect.face_score) mapped linearly to confidence 0..1 between these.
SCORE_ZERO = -1.0
SCORE_ONE = 1.5


def score_confidence(score: float) -> float:
    """Confidence 0..1 from dlib's HOG face score of the tracked face (linear, clipped)."""
    return float(np.clip((score - SCORE_ZERO) / (SCORE_ONE - SCORE_ZERO), 0.0, 1.0))


def au_models_for(settings: TrackerSettings) -> openface_models.OpenFaceModels | None:
    """OpenFace's models the settings point at (read once per process), or None for the
    geometric fallback; :class:`~features.tracker.openface_models.OpenFaceModelError` when an
    explicitly named folder holds no usable models."""
    found = openface_models.locate(settings.openface_models)
    return None if found is None else openface_models.load(found, settings.au_models)


def _iod(lmk: np.ndarray) -> float:
    return float(np.linalg.norm(lmk[36] - lmk[45]))


class FaceTracker:
    """Frame-by-frame tracker state for one video (see the module docstring)."""

    def __init__(self, width: int, height: int, settings: TrackerSettings = TrackerSettings(),
                 models: openface_models.OpenFaceModels | None = None):
        self.settings = settings
        self.models = models
        self.K = camera_matrix(width, height)
        self.model = mean_face_3d()
        self.lmk: np.ndarray | None = None
        self.box_model: BoxModel | None = None
        self.template: np.ndarray | None = None
        self.pose: PoseFit | None = None
        self.since_detect = 0
        self.since_score = 0
        self.score_conf = 1.0
        self.detections = 0
        self.failed_acquisitions = 0
        # identity of the person acquired first (descriptor computed lazily, see identity.py)
        self.id_face: tuple[np.ndarray, np.ndarray] | None = None   # (face crop RGB, lmk in it)
        self.id_desc: np.ndarray | None = None
        self.last_iod: float | None = None
        self.rejected_box: tuple[float, float, float, float] | None = None
        self.rejections = 0

    def _fit(self, frame: np.ndarray, box: tuple[float, float, float, float]):
        x0, y0, x1, y1 = roi_bounds(box, frame.shape)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        gray = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
        lmk = fit_landmarks(gray, box, (x0, y0))
        return gray, (x0, y0), lmk

    def _lose(self, confidence: float = 0.0, switch: bool = False) -> FrameResult:
        self.lmk, self.pose, self.template = None, None, None
        return FrameResult(False, float(max(confidence, 0.0)), switch=switch)

    @staticmethod
    def _face_crop(frame: np.ndarray, lmk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = shape_frame(lmk)
        h, w = frame.shape[:2]
        x0, y0 = int(max(0, c[0] - 3 * s)), int(max(0, c[1] - 3 * s))
        x1, y1 = int(min(w, c[0] + 3 * s)), int(min(h, c[1] + 3 * s))
        crop = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2RGB)
        return crop, lmk - (x0, y0)

    def _same_person(self, frame: np.ndarray, box, lmk: np.ndarray) -> bool:
        """Whether a newly acquired face is the person tracked so far (identity.py)."""
        if self.id_face is None:
            return True
        if self.rejected_box is not None and _overlap(box, self.rejected_box) > 0.3:
            self.rejected_box = box          # the other face again: no new descriptor
            return False
        if self.last_iod is not None:
            ratio = _iod(lmk) / max(self.last_iod, 1e-6)
            if not 1.0 / self.settings.max_scale_change <= ratio <= self.settings.max_scale_change:
                self.rejected_box = box
                return False
        if self.id_desc is None:
            self.id_desc = identity.descriptor(*self.id_face)
        d = identity.distance(self.id_desc, identity.descriptor(*self._face_crop(frame, lmk)))
        if d >= self.settings.identity_distance:
            self.rejected_box = box
            return False
        self.rejected_box = None
        return True

    def _acquire(self, frame: np.ndarray):
        full = self.failed_acquisitions % self.settings.detect_every == 0
        det = detect_face(frame, self.settings.detect_scale, full_fallback=full)
        self.detections += 1
        if det is None:
            self.failed_acquisitions += 1
            return None
        fitted = self._fit(frame, det.box)
        if fitted is None:
            self.failed_acquisitions += 1
            return None
        gray, off, lmk = fitted
        if not self._same_person(frame, det.box, lmk):
            self.failed_acquisitions += 1
            return "other"
        self.failed_acquisitions = 0
        if self.id_face is None:
            self.id_face = self._face_crop(frame, lmk)
        self.box_model = BoxModel.calibrate(det.box, lmk)
        self.template = appearance(gray, off, lmk)
        self.since_detect = 0
        self.since_score = 0
        self.pose = None
        return gray, off, lmk, det.score

    def _jumped(self, lmk: np.ndarray) -> bool:
        """Landmarks moved or scaled too much since the last frame to be the same face."""
        if self.lmk is None:
            return False
        iod0 = max(_iod(self.lmk), 1e-6)
        move = float(np.linalg.norm(lmk.mean(axis=0) - self.lmk.mean(axis=0))) / iod0
        ratio = _iod(lmk) / iod0
        s = self.settings
        return move > s.max_jump or not 1.0 / s.max_scale_change <= ratio <= s.max_scale_change

    def step(self, frame: np.ndarray) -> FrameResult:
        """Track one BGR frame ``(H, W, 3)`` uint8."""
        s = self.settings
        got = None
        if self.lmk is not None and self.box_model is not None:
            box = self.box_model.box(self.lmk)
            det = None
            self.since_detect += 1
            if self.since_detect >= s.detect_every:
                det = detect_near(frame, box)
                self.detections += 1
                self.since_detect = 0
                if det is not None:
                    box = det.box
            fitted = self._fit(frame, box)
            if fitted is not None:
                gray, off, lmk = fitted
                patch = appearance(gray, off, lmk)
                sim = similarity(self.template, patch)
                if sim >= s.min_similarity and not self._jumped(lmk):
                    if det is not None:
                        self.box_model = BoxModel.calibrate(det.box, lmk)
                        self.template = patch
                    got = gray, off, lmk, sim
        acquired = False
        if got is None:
            self.lmk, self.pose = None, None
            got = self._acquire(frame)
            if got is None:
                return self._lose()
            if isinstance(got, str):
                self.rejections += 1
                return self._lose(switch=True)
            acquired = True
        gray, off, lmk, _ = got
        pose = fit_pose(lmk, self.model, self.K, self.pose)
        iod = _iod(lmk)
        if not np.isfinite(pose.rms_px) or iod < 1 or pose.rms_px > s.max_reprojection * iod:
            return self._lose(0.0)
        # confidence: dlib's face score on the tracked face (drops under occlusion, blur,
        # extreme pose); every confidence_every frames, every frame while it is low
        self.since_score += 1
        if acquired or self.since_score >= s.confidence_every or \
                self.score_conf < s.min_confidence + 0.2:
            c, r = shape_frame(lmk)
            self.score_conf = score_confidence(face_score(frame, c, r))
            self.since_score = 0
        conf = self.score_conf
        self.lmk, self.pose, self.last_iod = lmk, pose, iod
        if conf < s.min_confidence:
            return FrameResult(False, conf, low=True)
        extra: dict[str, Any] = {}
        if self.models is not None:     # OpenFace's PDM: per-person shape, pose, AU features
            t0 = time.perf_counter()
            feats = openface_aus.frame_features(frame, lmk, self.models)
            T, euler, R = pdm.head_pose(feats.fit, lmk, self.K)
            out_pose = PoseFit(cv2.Rodrigues(R)[0].reshape(3), T, R, euler, pose.rms_px)
            lmk3d = pdm.landmarks_3d(feats.fit, lmk, self.K)
            extra = {"pdm": np.concatenate([feats.fit.params, feats.fit.local]),
                     "au_features": feats.features, "au_seconds": time.perf_counter() - t0}
        else:
            out_pose = pose
            lmk3d = lift_landmarks(lmk, pose, self.model, self.K)
        lids = eyelid_points(lmk)
        located = [locate_pupil(gray, off, lids[e]) for e in range(2)]
        pupils = np.stack([p for p, _ in located])
        eye2d, eye3d, gaze = eye_geometry(lmk, lmk3d, out_pose.R, self.K, pupils)
        eyes_open = all(ok for _, ok in located)
        return FrameResult(True, conf, lmk, lmk3d, out_pose, eye2d, eye3d, gaze, eyes_open=eyes_open,
                           **extra)


def _overlap(a, b) -> float:
    """Intersection over union of two boxes ``(l, t, r, b)``."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclasses.dataclass
class EmbeddedResult:
    """A tracked video: the OpenFace-schema ``track``, the raw AU values ``au_raw (n, 17)`` mm and
    the AU ``baseline (17,)`` in use (None without tracked frames), so AUs can be re-based on
    another clip; ``info`` holds counts, timings and what the report needs (baseline source,
    low-confidence fraction, person switches, closed-eye frames)."""

    track: OpenFaceTrack
    au_raw: np.ndarray
    baseline: np.ndarray | None
    info: dict[str, Any]
    settings: TrackerSettings = TrackerSettings()
    au_source: str = "geometric"    # geometric | openface (OpenFace's appearance models)

    def own_baseline(self) -> np.ndarray | None:
        """This clip's baseline over its own tracked frames (see ``aus.baseline``); None for
        OpenFace's AUs, which need none."""
        if self.au_source != "geometric":
            return None
        return aus.baseline(self.au_raw, np.flatnonzero(self.track.success),
                            self.settings.baseline_percentile)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[(first, last)]`` 0-based frame ranges where ``flags (n,)`` is True."""
    out, start = [], None
    for i, f in enumerate(list(flags) + [False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i - 1))
            start = None
    return out


def track_frames(frames: Iterable[tuple[int, np.ndarray]], fps: float,
                 settings: TrackerSettings = TrackerSettings(), path: str = "") -> EmbeddedResult:
    """Track ``(index, frame BGR)`` pairs (a stream) into an :class:`EmbeddedResult`."""
    tracker: FaceTracker | None = None
    results: list[FrameResult] = []
    models = au_models_for(settings)
    t0 = time.perf_counter()
    size = (0, 0)
    for _, frame in frames:
        if tracker is None:
            size = (frame.shape[1], frame.shape[0])
            tracker = FaceTracker(size[0], size[1], settings, models)
        results.append(tracker.step(frame))
    elapsed = time.perf_counter() - t0
    n = len(results)
    if n == 0:
        raise VideoError(f"{path}: no frame decodes (corrupt or truncated video)")
    fps = float(fps) if fps and fps > 0 else 30.0
    succ = np.array([r.success for r in results], dtype=bool)
    conf = np.array([r.confidence for r in results])

    def stack(attr: str, shape: tuple[int, ...]) -> np.ndarray:
        out = np.zeros((n,) + shape)
        for i, r in enumerate(results):
            v = getattr(r, attr)
            if r.success and v is not None:
                out[i] = v
        return out

    lmk2d, lmk3d = stack("lmk2d", (68, 2)), stack("lmk3d", (68, 3))
    eye2d, eye3d, gaze = stack("eye2d", (56, 2)), stack("eye3d", (56, 3)), stack("gaze", (2, 3))
    closed = np.array([r.success and not r.eyes_open for r in results], dtype=bool)
    gaze[closed] = 0.0    # gaze invalid on closed eyes (features.tracks.frames.gaze_valid)
    pose_T, pose_R = np.zeros((n, 3)), np.zeros((n, 3))
    Rm = np.tile(np.eye(3), (n, 1, 1))
    pdm_cols = np.zeros((n, 40))
    K = tracker.K
    for i, r in enumerate(results):
        if r.success:
            pose_T[i], pose_R[i], Rm[i] = r.pose.tvec, r.pose.euler, r.pose.R
            pdm_cols[i, :6] = pdm_rigid(r.pose, K)
    if models is not None:
        feats = np.zeros((n, openface_aus.feature_size(models)), np.float32)
        for i, r in enumerate(results):
            if r.success:
                feats[i], pdm_cols[i] = r.au_features, r.pdm
        t_au = time.perf_counter()
        au_r, au_c = openface_aus.predict(models, feats, succ)
        au_seconds = sum(r.au_seconds for r in results) + time.perf_counter() - t_au
        au_raw, base = np.zeros((n, len(aus.AU_RULES))), None
        source = models.describe()
        note = (f"embedded tracker (dlib landmarks; OpenFace 2.2 PDM, pose and {models.model_set} "
                "AU models)")
    else:
        pdm_cols[:, 6:] = 0.0
        head = to_head_frame(lmk3d, Rm, pose_T)
        measures = aus.measurements(head)
        measures[succ] = aus.smooth3(measures[succ])
        measures = aus.decorrelate_pose(measures, pose_R, succ)
        au_raw = aus.au_values(measures)
        base = aus.baseline(au_raw, np.flatnonzero(succ), settings.baseline_percentile)
        au_r, au_c = aus.estimate_aus(au_raw, succ, base, settings.au_unfollowed == "zero")
        au_seconds = 0.0
        source = "geometric proxies from the 68 landmarks (no OpenFace models found)"
        note = "embedded tracker (dlib + 3D mean face); p_0..p_33 = 0 (no PDM fitted)"
    angles = gaze_angles(gaze[:, 0], gaze[:, 1])
    angles[~succ | closed] = 0.0
    frame_no = np.arange(1, n + 1)
    track = OpenFaceTrack(
        path=str(path), frame=frame_no, timestamp=(frame_no - 1) / fps, confidence=conf,
        success=succ, gaze_0=gaze[:, 0], gaze_1=gaze[:, 1], gaze_angle=angles,
        eye_lmk_2d=eye2d, eye_lmk_3d=eye3d, pose_T=pose_T, pose_R=pose_R, lmk_2d=lmk2d,
        lmk_3d=lmk3d, pdm=pdm_cols, au_r=au_r, au_c=au_c, blocks=tuple(DATA_BLOCKS),
        variant="openface2", face_id=np.zeros(n, dtype=np.int64), notes=(note,))
    switch = np.array([r.switch for r in results], dtype=bool)
    low = np.array([r.low for r in results], dtype=bool)
    info = {"frames": n, "tracked": int(succ.sum()), "detections": tracker.detections,
            "width": size[0], "height": size[1], "decode_track_s": elapsed,
            "low_confidence_fraction": float(low.mean()),
            "low_confidence_runs": _runs(low),
            "person_switches": len(_runs(switch)), "other_person_runs": _runs(switch),
            "closed_eye_frames": int(closed.sum()), "au_source": source, "au_seconds": au_seconds,
            "au_baseline": (f"fallback: {settings.baseline_percentile:g}th percentile per AU over "
                            f"this clip's {int(succ.sum())} tracked frames"
                            if base is not None else "none (no tracked frame)")}
    if models is not None:
        info["au_baseline"] = ("none needed: OpenFace's dynamic models subtract the video's own "
                               "running median and neutral offset" if models.model_set == "dynamic"
                               else "none: OpenFace's static models score each frame alone")
    return EmbeddedResult(track, au_raw, base, info, settings,
                          "openface" if models is not None else "geometric")


def track_video(path: str | Path, fps: float, settings: TrackerSettings = TrackerSettings()) -> EmbeddedResult:
    """Track every decodable frame of a video (streamed); see :func:`track_frames`."""
    return track_frames(iter_frames(path), fps, settings, str(path))


def rebase_aus(result: EmbeddedResult, base: np.ndarray | None, source: str = "") -> None:
    """Recompute ``result.track``'s AUs against another ``base`` (in place), e.g. the actor's
    neutral clip's :meth:`EmbeddedResult.own_baseline`; ``source`` describes it for the report."""
    if result.au_source != "geometric":
        return                       # OpenFace's AUs are calibrated per video by their models
    t = result.track
    t.au_r, t.au_c = aus.estimate_aus(result.au_raw, t.success, base,
                                      result.settings.au_unfollowed == "zero")
    result.baseline = base
    if source:
        result.info["au_baseline"] = source


def report(result: EmbeddedResult) -> dict[str, Any]:
    """The CSV's companion report (JSON-able): frames decoded against the frames the container
    declares (``info["frames_declared"]``, 0 when unknown) and whether the file looks truncated
    (:func:`features.media.video.truncation`), baseline, confidence, person switches, AUs the
    landmarks cannot follow or that are not validated against OpenFace."""
    info = result.info
    geometric = result.au_source == "geometric"
    declared = int(info.get("frames_declared", 0))
    return {
        "video": Path(result.track.path).name, "frames": info["frames"],
        "frames_decoded": info["frames"], "frames_declared": declared,
        "truncated": truncation(info["frames"], declared) is not None,
        "tracked": info["tracked"],
        "au_source": info.get("au_source", ""),
        "au_baseline": info.get("au_baseline", ""),
        "low_confidence_fraction": round(info.get("low_confidence_fraction", 0.0), 4),
        "low_confidence_frames": [list(r) for r in info.get("low_confidence_runs", [])],
        "person_switches": info.get("person_switches", 0),
        "other_person_frames": [list(r) for r in info.get("other_person_runs", [])],
        "closed_eye_frames_gaze_invalid": info.get("closed_eye_frames", 0),
        "aus_not_followed": {f"AU{a}": ("written as 0" if result.settings.au_unfollowed == "zero"
                                        else "written, geometric proxy only")
                             for a in aus.UNFOLLOWED} if geometric else {},
        "aus_not_validated": [f"AU{a}" for a in aus.UNVALIDATED] if geometric else [],
        "notes": ("geometric AU proxies (features/tracker/aus.py)" if geometric else
                  "OpenFace 2.2's appearance AU models (features/tracker/openface_aus.py)")
                 + "; frame ranges are 0-based",
    }
