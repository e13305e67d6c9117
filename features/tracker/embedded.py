"""The embedded (offline) tracker: one video in, OpenFace's 714-column track out.

Per frame (streamed with ``features.media.video.iter_frames``; a video is never held in memory):

1. *Acquire* (no face yet, or the track was lost): dlib's face detector on the frame downscaled
   by ``detect_scale`` (full resolution as a fallback on the first attempt and on every
   ``detect_every``-th consecutive failed one).
2. *Track* (otherwise): the box comes from the previous frame's landmarks
   (``landmarks.BoxModel``); every ``detect_every`` frames the detector re-anchors the box,
   searching only the region around the face.
3. Landmarks: dlib's 68-point shape predictor on the grayscale of that region only.
4. Fit quality: appearance similarity (NCC) to the face patch stored at the last detection, and
   the rigid 3D fit's reprojection error. Below ``min_similarity`` (or above
   ``max_reprojection`` x inter-ocular distance) the frame is re-acquired at once; if that fails
   the row is kept with ``success = 0`` and zeros elsewhere, as OpenFace leaves failed frames.
5. Head pose and 3D landmarks (``pose``), eye landmarks and gaze (``eyes``).

After the last frame: action units from landmark motion relative to the video's stillest frames
(``aus``; the track stage can re-base them on the actor's neutral clip), and the 6 rigid PDM
parameters (``pose.pdm_rigid``). The 34 non-rigid PDM parameters ``p_0..p_33`` are written as 0:
no point-distribution model is fitted.

``confidence``: appearance similarity (0..1) to the last detection's patch; on a frame where the
face is (re)acquired with no earlier patch, ``0.5 + 0.5 x`` the detector score mapped to 0..1.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from features.tracks.openface import DATA_BLOCKS, OpenFaceTrack, gaze_angles
from features.tracker import aus
from features.tracker.detect import DETECT_THRESHOLD, Detection, detect_face, detect_near
from features.tracker.eyes import eye_geometry, eyelid_points, locate_pupil
from features.tracker.landmarks import (BoxModel, appearance, fit_landmarks, roi_bounds,
                                        similarity)
from features.tracker.models import camera_matrix, mean_face_3d
from features.tracker.pose import PoseFit, fit_pose, lift_landmarks, pdm_rigid, to_head_frame
from features.media.video import VideoError, iter_frames


@dataclasses.dataclass(frozen=True)
class TrackerSettings:
    """Knobs of the embedded tracker (``track`` section of params.yaml)."""

    detect_every: int = 10          # re-anchor the box with the detector every N frames
    detect_scale: float = 0.5       # downscale factor of the frame for (re)acquisition
    min_similarity: float = 0.5     # appearance NCC below which the track is lost
    max_reprojection: float = 0.12  # rigid-fit RMS error / inter-ocular distance limit
    neutral_fraction: float = aus.NEUTRAL_FRACTION

    @staticmethod
    def from_params(track: dict[str, Any]) -> "TrackerSettings":
        """Settings from the params ``track`` section (missing keys keep their defaults)."""
        d = TrackerSettings()
        s = TrackerSettings(
            detect_every=int(track.get("detect_every", d.detect_every)),
            detect_scale=float(track.get("detect_scale", d.detect_scale)),
            min_similarity=float(track.get("min_similarity", d.min_similarity)),
            max_reprojection=float(track.get("max_reprojection", d.max_reprojection)),
            neutral_fraction=float(track.get("neutral_fraction", d.neutral_fraction)),
        )
        if s.detect_every < 1:
            raise ValueError(f"track.detect_every must be >= 1, got {s.detect_every}")
        if not 0 < s.detect_scale <= 1:
            raise ValueError(f"track.detect_scale must be in (0, 1], got {s.detect_scale}")
        if not 0 < s.neutral_fraction <= 1:
            raise ValueError(f"track.neutral_fraction must be in (0, 1], got {s.neutral_fraction}")
        return s


@dataclasses.dataclass
class FrameResult:
    """One frame: ``success``, ``confidence``, ``lmk2d (68, 2)`` px, ``lmk3d (68, 3)`` mm,
    ``pose`` (None when not tracked), ``eye2d (56, 2)``, ``eye3d (56, 3)``, ``gaze (2, 3)``."""

    success: bool
    confidence: float
    lmk2d: np.ndarray | None = None
    lmk3d: np.ndarray | None = None
    pose: PoseFit | None = None
    eye2d: np.ndarray | None = None
    eye3d: np.ndarray | None = None
    gaze: np.ndarray | None = None
    detected: bool = False


def _acquire_confidence(det: Detection) -> float:
    return float(0.5 + 0.5 * np.clip((det.score - DETECT_THRESHOLD) / (1.0 - DETECT_THRESHOLD), 0, 1))


class FaceTracker:
    """Frame-by-frame tracker state for one video (see the module docstring)."""

    def __init__(self, width: int, height: int, settings: TrackerSettings = TrackerSettings()):
        self.settings = settings
        self.K = camera_matrix(width, height)
        self.model = mean_face_3d()
        self.lmk: np.ndarray | None = None
        self.box_model: BoxModel | None = None
        self.template: np.ndarray | None = None
        self.pose: PoseFit | None = None
        self.since_detect = 0
        self.detections = 0
        self.failed_acquisitions = 0

    def _fit(self, frame: np.ndarray, box: tuple[float, float, float, float]):
        x0, y0, x1, y1 = roi_bounds(box, frame.shape)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        gray = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
        lmk = fit_landmarks(gray, box, (x0, y0))
        return gray, (x0, y0), lmk

    def _lose(self, confidence: float = 0.0) -> FrameResult:
        self.lmk, self.pose, self.template = None, None, None
        return FrameResult(False, float(max(confidence, 0.0)))

    def _acquire(self, frame: np.ndarray):
        full = self.failed_acquisitions % self.settings.detect_every == 0
        det = detect_face(frame, self.settings.detect_scale, full_fallback=full)
        self.detections += 1
        if det is None:
            self.failed_acquisitions += 1
            return None
        self.failed_acquisitions = 0
        fitted = self._fit(frame, det.box)
        if fitted is None:
            return None
        gray, off, lmk = fitted
        self.box_model = BoxModel.calibrate(det.box, lmk)
        self.template = appearance(gray, off, lmk)
        self.since_detect = 0
        self.pose = None
        return gray, off, lmk, _acquire_confidence(det)

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
                if sim >= s.min_similarity:
                    if det is not None:
                        self.box_model = BoxModel.calibrate(det.box, lmk)
                        self.template = patch
                    got = gray, off, lmk, sim
        if got is None:
            got = self._acquire(frame)
            if got is None:
                return self._lose()
        gray, off, lmk, conf = got
        pose = fit_pose(lmk, self.model, self.K, self.pose)
        iod = float(np.linalg.norm(lmk[36] - lmk[45]))
        if not np.isfinite(pose.rms_px) or iod < 1 or pose.rms_px > s.max_reprojection * iod:
            return self._lose(conf)
        self.lmk, self.pose = lmk, pose
        lmk3d = lift_landmarks(lmk, pose, self.model, self.K)
        lids = eyelid_points(lmk)
        pupils = np.stack([locate_pupil(gray, off, lids[e])[0] for e in range(2)])
        eye2d, eye3d, gaze = eye_geometry(lmk, lmk3d, pose.R, self.K, pupils)
        return FrameResult(True, float(np.clip(conf, 0, 1)), lmk, lmk3d, pose, eye2d, eye3d, gaze)


@dataclasses.dataclass
class EmbeddedResult:
    """A tracked video: the OpenFace-schema ``track``, the AU ``measures (n, m)`` and this
    video's own neutral ``baseline (m,)`` (None without tracked frames), so AUs can be re-based
    on another clip; ``info`` holds counts and timings."""

    track: OpenFaceTrack
    measures: np.ndarray
    baseline: np.ndarray | None
    info: dict[str, Any]


def track_frames(frames: Iterable[tuple[int, np.ndarray]], fps: float,
                 settings: TrackerSettings = TrackerSettings(), path: str = "") -> EmbeddedResult:
    """Track ``(index, frame BGR)`` pairs (a stream) into an :class:`EmbeddedResult`."""
    tracker: FaceTracker | None = None
    results: list[FrameResult] = []
    t0 = time.perf_counter()
    size = (0, 0)
    for _, frame in frames:
        if tracker is None:
            size = (frame.shape[1], frame.shape[0])
            tracker = FaceTracker(size[0], size[1], settings)
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
    pose_T, pose_R = np.zeros((n, 3)), np.zeros((n, 3))
    Rm = np.tile(np.eye(3), (n, 1, 1))
    pdm = np.zeros((n, 40))
    K = tracker.K
    for i, r in enumerate(results):
        if r.success:
            pose_T[i], pose_R[i], Rm[i] = r.pose.tvec, r.pose.euler, r.pose.R
            pdm[i, :6] = pdm_rigid(r.pose, K)
    head = to_head_frame(lmk3d, Rm, pose_T)
    measures = aus.measurements(head)
    measures[succ] = aus.smooth3(measures[succ])
    baseline = aus.neutral_baseline(measures, head, succ, settings.neutral_fraction)
    au_r, au_c = aus.estimate_aus(measures, succ, baseline)
    angles = gaze_angles(gaze[:, 0], gaze[:, 1])
    angles[~succ] = 0.0
    frame_no = np.arange(1, n + 1)
    track = OpenFaceTrack(
        path=str(path), frame=frame_no, timestamp=(frame_no - 1) / fps, confidence=conf,
        success=succ, gaze_0=gaze[:, 0], gaze_1=gaze[:, 1], gaze_angle=angles,
        eye_lmk_2d=eye2d, eye_lmk_3d=eye3d, pose_T=pose_T, pose_R=pose_R, lmk_2d=lmk2d,
        lmk_3d=lmk3d, pdm=pdm, au_r=au_r, au_c=au_c, blocks=tuple(DATA_BLOCKS),
        variant="openface2", face_id=np.zeros(n, dtype=np.int64),
        notes=("embedded tracker (dlib + 3D mean face); p_0..p_33 = 0 (no PDM fitted)",))
    info = {"frames": n, "tracked": int(succ.sum()), "detections": tracker.detections,
            "width": size[0], "height": size[1], "decode_track_s": elapsed}
    return EmbeddedResult(track, measures, baseline, info)


def track_video(path: str | Path, fps: float, settings: TrackerSettings = TrackerSettings()) -> EmbeddedResult:
    """Track every decodable frame of a video (streamed); see :func:`track_frames`."""
    return track_frames(iter_frames(path), fps, settings, str(path))


def rebase_aus(result: EmbeddedResult, baseline: np.ndarray | None) -> None:
    """Recompute ``result.track``'s AUs against another neutral ``baseline`` (in place)."""
    t = result.track
    t.au_r, t.au_c = aus.estimate_aus(result.measures, t.success, baseline)

