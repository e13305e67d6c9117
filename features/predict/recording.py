"""Model inputs of a new recording, computed with the training recipes and the trained settings.

One code path with training: the track comes from the embedded tracker
(:func:`features.tracker.embedded.track_video`) written and read back as an OpenFace CSV
(:func:`features.tracks.openface.write_openface` / ``read_openface``), exactly as the ``track``
and ``kpd`` stages pass it on, so landmarks carry the CSV's precision; key-point distances come
from :mod:`features.visual.kpd_track`, audio from :mod:`features.media.audio` and LMS/MFCC from
:func:`features.audio.spectral.spectral_feature`. The settings (``frames.count``, ``kpd``
normalisation and landmark list, ``features.audio``, ``features.<lms|mfcc>``) are those the
models' training features were computed with (:class:`FeatureSpec`, from the checkpoints).

Neutral reference (``predict.neutral``) for key-point distances normalised by a neutral frame
(``kpd.normalisation`` ``neutral_video`` or ``same_video``); a new person has no RAVDESS neutral
clip, so the reference frame is the most neutral tracked frame (Houmard eq. 5.2-5.3,
:mod:`features.tracks.neutral`) of

* ``calibration``: a calibration recording of the same person (``predict.calibration``: one
  file for every input, or ``{recording: file}``), the analogue of the actor's neutral clip;
* ``first_seconds``: the first ``predict.neutral_seconds`` seconds of the recording itself
  (ask the person to look neutral at the start);
* ``clip``: anywhere in the recording (the ``same_video`` fallback of training).

The choice and the frame used are written in every output row (``neutral``).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from features.audio.spectral import spectral_centres, spectral_feature
from features.media.audio import AudioError, centre_segment, decode_audio, to_mono, valid_frames
from features.media.video import MediaProbe, VideoError, probe_media
from features.predict.windows import Window
from features.tracker.embedded import TrackerSettings, track_video
from features.tracks.frames import OPENFACE_FIRST_FRAME, TrackError
from features.tracks.openface import OpenFaceError, OpenFaceTrack, read_openface, write_openface
from features.visual.kpd_track import track_kpd, track_reference

NEUTRAL_MODES = ("clip", "first_seconds", "calibration")
VIDEO_FEATURES = ("kpd_face", "kpd_eyes")
AUDIO_FEATURES = ("lms", "mfcc")
NEEDS_REFERENCE = ("neutral_video", "same_video")


class InputError(RuntimeError):
    """A recording that cannot give what the models need (the message names the file)."""


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """How to compute each model input, as recorded for the training features.

    ``count``: training frames per clip (88); ``model_fps``: model frames per second (30);
    ``sample_rate``/``samples``: the audio input (48 kHz, 140 800 samples); ``spectral``:
    ``{lms|mfcc: settings}``; ``kpd``: ``{kpd_face|kpd_eyes: (normalisation, landmarks)}``.
    """

    modalities: tuple[str, ...]
    count: int
    model_fps: float
    sample_rate: int = 0
    samples: int = 0
    spectral: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    kpd: dict[str, tuple[str, tuple[int, ...]]] = dataclasses.field(default_factory=dict)

    @property
    def needs_video(self) -> list[str]:
        return [m for m in self.modalities if m in VIDEO_FEATURES]

    @property
    def needs_audio(self) -> list[str]:
        return [m for m in self.modalities if m in AUDIO_FEATURES]

    @property
    def needs_reference(self) -> list[str]:
        return [m for m, (norm, _) in self.kpd.items() if norm in NEEDS_REFERENCE]

    @property
    def samples_per_frame(self) -> int:
        return int(round(self.sample_rate / self.model_fps)) if self.sample_rate else 0


def feature_spec(modalities: list[str], features: dict[str, dict[str, Any]],
                 default_fps: float = 30.0) -> FeatureSpec:
    """The :class:`FeatureSpec` of models over ``modalities`` whose training features were
    computed with ``features`` (``{modality: feature-file params}``)."""
    count, fps, rate, samples = 0, 0.0, 0, 0
    spectral, kpd = {}, {}
    for m in modalities:
        p = features.get(m, {})
        if m in AUDIO_FEATURES:
            audio, settings = p["features"]["audio"], p["features"][m]
            rate, samples = int(audio["sample_rate"]), int(audio["samples"])
            hop = int(settings.get("hop", 1600))
            spectral[m] = dict(settings)
            count = count or samples // hop
            fps = fps or rate / hop
        elif m in VIDEO_FEATURES:
            kpd[m] = (str(p["kpd"]["normalisation"]), tuple(int(v) for v in p["landmarks"]))
            count = int(p["frames"]["count"]) if not count else count
    fps = fps or float(default_fps)
    if samples and samples != int(round(count * rate / fps)):
        raise ValueError(f"audio segment {samples} samples does not span {count} frames at {fps} fps")
    return FeatureSpec(tuple(modalities), int(count), float(fps), rate, samples, spectral, kpd)


@dataclasses.dataclass
class Recording:
    """A decoded recording: its track (video models) and audio (audio models)."""

    path: Path
    probe: MediaProbe
    track: OpenFaceTrack | None
    audio: np.ndarray | None      # (samples, channels) float32 at spec.sample_rate
    total: int                    # length in model frames
    notes: list[tuple[str, str]]  # (problem, action) for the problems report


def track_recording(path: Path, fps: float, settings: TrackerSettings) -> OpenFaceTrack:
    """Embedded tracker on every frame of ``path``, through the OpenFace CSV like training."""
    result = track_video(path, fps, settings)
    with tempfile.TemporaryDirectory(prefix="predict-track-") as tmp:
        csv = Path(tmp) / f"{path.stem}.csv"
        write_openface(csv, result.track)
        track = read_openface(csv)
    track.path = str(path)
    return track


def load_recording(path: str | Path, spec: FeatureSpec, settings: TrackerSettings) -> Recording:
    """Probe, track and decode what ``spec`` needs; :class:`InputError` naming the file when the
    recording is unreadable, has no face, no video or no audio that a model input needs."""
    path = Path(path)
    try:
        probe = probe_media(path)
    except VideoError as exc:
        raise InputError(f"unreadable: {exc}") from exc
    notes: list[tuple[str, str]] = []
    track, audio = None, None
    video_feats, audio_feats = spec.needs_video, spec.needs_audio
    if video_feats and not probe.frames:
        raise InputError(f"{path}: the models use {', '.join(video_feats)} (video) but the "
                         f"file has no video stream")
    if audio_feats and not probe.audio_rate:
        raise InputError(f"{path}: the models use {', '.join(audio_feats)} (audio) but the "
                         f"file has no audio stream")
    if video_feats:
        try:
            track = track_recording(path, probe.fps, settings)
        except (VideoError, OpenFaceError) as exc:
            raise InputError(f"unreadable video: {exc}") from exc
        if not track.success.any():
            raise InputError(f"{path}: no face found in any of the {track.n} frames; the models "
                             f"use {', '.join(video_feats)}")
        if track.success.mean() < 1.0:
            notes.append((f"{int((~track.success).sum())} of {track.n} frames without a tracked face",
                          "interpolated: untracked frames marked invalid"))
        if abs(probe.fps - spec.model_fps) > 1e-3:
            notes.append((f"video at {probe.fps:g} fps, models trained at {spec.model_fps:g} fps",
                          "resampled: landmarks interpolated at the model's frame times"))
    if audio_feats:
        try:
            audio = decode_audio(path, spec.sample_rate, probe.audio_channels or None)
        except AudioError as exc:
            raise InputError(f"audio: {exc}") from exc
        if probe.audio_rate != spec.sample_rate:
            notes.append((f"audio sample rate {probe.audio_rate} Hz, resampled to "
                          f"{spec.sample_rate} Hz by ffmpeg", "resampled"))
    if track is not None:
        total = int(np.floor(track.n * spec.model_fps / (probe.fps or spec.model_fps) + 1e-9))
    else:
        total = audio.shape[0] // spec.samples_per_frame
    return Recording(path, probe, track, audio, total, notes)


def video_ratio(rec: Recording, spec: FeatureSpec) -> float:
    """Video frames per model frame: 1.0 when the video runs at the models' frame rate."""
    fps = rec.probe.fps or spec.model_fps
    return 1.0 if abs(fps - spec.model_fps) <= 1e-3 else fps / spec.model_fps


@dataclasses.dataclass(frozen=True)
class Reference:
    """Reference distances per KPD modality and where they come from (written in outputs)."""

    distances: dict[str, np.ndarray]
    source: str


def neutral_reference(rec: Recording, spec: FeatureSpec, mode: str, seconds: float = 2.0,
                      calibration: OpenFaceTrack | None = None) -> Reference:
    """The KPD reference of ``rec`` by ``mode`` (see the module docstring); empty when no model
    input is normalised by a neutral frame. Raises :class:`InputError` naming the file."""
    kinds = spec.needs_reference
    if not kinds:
        return Reference({}, "none (no neutral-normalised input)")
    if mode not in NEUTRAL_MODES:
        raise ValueError(f"predict.neutral must be one of {NEUTRAL_MODES}, got {mode!r}")
    track, usable, label = rec.track, None, mode
    if mode == "calibration":
        if calibration is None:
            raise InputError(f"{rec.path}: predict.neutral is calibration but no calibration "
                             f"recording is named for it (predict.calibration)")
        track, label = calibration, f"calibration {calibration.path}"
    elif mode == "first_seconds":
        limit = seconds * (rec.probe.fps or spec.model_fps)
        usable = (track.frame - OPENFACE_FIRST_FRAME) < limit
        label = f"first {seconds:g} s"
    out, frame = {}, 0
    try:
        for m in kinds:
            norm, landmarks = spec.kpd[m]
            out[m], frame = track_reference(m.removeprefix("kpd_"), track, landmarks, usable)
    except (TrackError, OpenFaceError) as exc:
        raise InputError(f"neutral reference ({label}): {exc}") from exc
    return Reference(out, f"{label} @frame {frame}")


def window_inputs(rec: Recording, spec: FeatureSpec, window: Window, ref: Reference
                  ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], float]:
    """Raw model inputs ``{m: (length, dims)}``, valid masks ``{m: (length,)}`` and the tracked
    fraction of one window (1.0 without video)."""
    xs: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    tracked_frac = 1.0
    length = len(window.frames)
    if spec.needs_video:
        assert rec.track is not None
        q = window.frames * video_ratio(rec, spec)
        ok = rec.track.frame[rec.track.success] - OPENFACE_FIRST_FRAME
        tracked = np.isin(np.rint(q).astype(np.int64), ok)
        valid = ~window.padded & tracked
        real = ~window.padded
        tracked_frac = float((tracked & real).sum() / max(int(real.sum()), 1))
        for m in spec.needs_video:
            norm, landmarks = spec.kpd[m]
            try:
                xs[m] = track_kpd(m.removeprefix("kpd_"), norm, rec.track, q,
                                  ref.distances.get(m), landmarks)
            except (TrackError, ValueError) as exc:
                raise InputError(f"{rec.path}: {m}: {exc}") from exc
            masks[m] = valid
    if spec.needs_audio:
        assert rec.audio is not None
        samples = length * spec.samples_per_frame
        if window.kind == "middle" or window.padded.any():
            seg, before, after = centre_segment(rec.audio, samples)
        else:
            start = window.start * spec.samples_per_frame
            seg = rec.audio[start:start + samples]
            before, after = 0, samples - seg.shape[0]
            if after:
                seg = np.pad(seg, [(0, after)] + [(0, 0)] * (seg.ndim - 1))
        mono = to_mono(seg)
        for m in spec.needs_audio:
            settings = spec.spectral[m]
            data = spectral_feature(m, mono, spec.sample_rate, settings)
            xs[m] = data
            masks[m] = valid_frames(spectral_centres(data.shape[0], settings), before, after,
                                    samples)
    return xs, masks, tracked_frac
