"""Live mode: score a camera, a stream or a file played in real time, one line per hop.

Frames are tracked one by one as they arrive (:class:`features.tracker.embedded.FaceTracker`,
the tracker the offline stage runs through :func:`~features.tracker.embedded.track_frames`);
audio arrives in small chunks from ffmpeg (:class:`features.media.live.LiveAudio`). Only what
the next window needs is kept (a ring of per-frame landmarks and the audio since the window's
start); nothing waits for the end of the recording. Every ``hop`` model frames a window of the
models' length that has fully arrived, video and audio aligned by media time, is turned into
the same model inputs as offline (:func:`features.predict.recording.window_inputs`: key-point
distances via :mod:`features.visual.kpd_track`, LMS/MFCC via
:func:`features.audio.spectral.spectral_feature`) and scored by the averaged fold models.

Each line: media time of the window, probabilities, top class, and the end-to-end latency:
wall time from the arrival of the window's last input (its last video frame or last audio
chunk, whichever came later) to its probabilities. Differences from offline: the landmarks are
not rounded to the OpenFace CSV's 0.1 mm (no CSV is written), and the neutral reference comes
from a calibration recording or the first ``neutral_seconds`` of the stream (``clip``, which
needs the whole recording, falls back to ``first_seconds``).
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from features.core.config import get
from features.core.problems import ProblemLog
from features.media.live import LiveAudio, LiveFrame, LiveVideo, is_file, parse_source
from features.media.video import VideoError, probe_audio
from features.predict.recording import (
    FeatureSpec,
    Recording,
    Reference,
    feature_spec,
    neutral_reference,
    track_recording,
    window_inputs,
)
from features.predict.windows import Window
from features.tracker.embedded import FaceTracker, TrackerSettings, track_frames
from features.tracks.openface import OpenFaceTrack, gaze_angles


@dataclasses.dataclass
class LiveLine:
    """One scored window."""

    start_s: float
    end_s: float
    probs: np.ndarray
    top: str
    latency_ms: float
    tracked: float
    audio_padded: int
    inputs: dict[str, np.ndarray] | None = None   # raw model inputs {m: (frames, dims)}
    score_ms: float = 0.0       # wall time of features + models for this window
    score_cpu_ms: float = 0.0   # CPU time of the same (not inflated by other processes)


class FrameRing:
    """Per-frame tracker outputs of the last ``size`` frames, as a small OpenFace track."""

    def __init__(self, size: int):
        self.items: collections.deque = collections.deque(maxlen=size)

    def add(self, index: int, res) -> None:
        self.items.append((index, res))

    def track(self) -> OpenFaceTrack:
        """The ring as an :class:`OpenFaceTrack` (frame numbers 1-based, as OpenFace)."""
        n = len(self.items)
        frame = np.array([i + 1 for i, _ in self.items], dtype=np.int64)
        succ = np.array([r.success for _, r in self.items], dtype=bool)
        lmk = np.zeros((n, 68, 3))
        eye = np.zeros((n, 56, 3))
        gaze = np.zeros((n, 2, 3))
        for k, (_, r) in enumerate(self.items):
            if r.success:
                lmk[k], eye[k], gaze[k] = r.lmk3d, r.eye3d, r.gaze
        angle = gaze_angles(gaze[:, 0], gaze[:, 1])
        angle[~succ] = 0.0
        return OpenFaceTrack(path="live", frame=frame, timestamp=(frame - 1) / 30.0,
                             confidence=succ.astype(float), success=succ, gaze_angle=angle,
                             eye_lmk_3d=eye, lmk_3d=lmk, blocks=("gaze", "eye_lmk_3d", "lmk_3d"))


class LiveScorer:
    """Incremental scoring state: feed frames with :meth:`push`, get :class:`LiveLine` s."""

    def __init__(self, models: list, spec: FeatureSpec, tracker: TrackerSettings, fps: float,
                 hop: int, neutral: str = "first_seconds", neutral_seconds: float = 2.0,
                 calibration: OpenFaceTrack | None = None, audio: LiveAudio | None = None,
                 window: int = 0):
        from models.predict import Ensemble

        self.models, self.spec, self.settings = models, spec, tracker
        self.ensemble = Ensemble(models)
        self.fps, self.hop = float(fps), int(hop)
        self.length = int(window or spec.count)
        self.ratio = 1.0 if abs(self.fps - spec.model_fps) <= 1e-3 else self.fps / spec.model_fps
        self.audio = audio
        self.names = list(models[0].exp.class_names)
        self.tracker: FaceTracker | None = None
        self.ring = FrameRing(int(np.ceil(self.length * self.ratio)) + 4)
        self.next_window = 0
        self.neutral = "first_seconds" if neutral == "clip" else neutral
        self.neutral_seconds = float(neutral_seconds)
        self.ref: Reference | None = None
        self.calib_frames: list[tuple[int, np.ndarray]] = []
        self.notes: list[str] = []
        if neutral == "clip" and spec.needs_reference:
            self.notes.append("predict.neutral clip needs the whole recording: live mode uses "
                              f"first_seconds ({neutral_seconds:g} s)")
        if not spec.needs_reference:
            self.ref = Reference({}, "none (no neutral-normalised input)")
        elif self.neutral == "calibration":
            if calibration is None:
                raise ValueError("predict.neutral calibration needs predict.calibration (a file)")
            self.ref = neutral_reference(self._as_recording(calibration), spec, "calibration",
                                         calibration=calibration)
        self.calibration_seconds = 0.0   # one-off cost of the first_seconds reference
        self.skipped = 0                 # windows that closed before the reference was ready

    def _as_recording(self, track: OpenFaceTrack | None, audio: np.ndarray | None = None,
                      total: int = 0) -> Recording:
        from features.media.video import MediaProbe

        probe = MediaProbe(track.n if track is not None else 0, self.fps, 0, 0, 0.0, 0, 0, 0)
        return Recording(Path("live"), probe, track, audio, total, [])

    def _first_seconds_reference(self) -> None:
        """Track the buffered first seconds (the offline tracker, :func:`track_frames`) and
        pick their most neutral frame."""
        t0 = time.perf_counter()
        result = track_frames(iter(self.calib_frames), self.fps, self.settings, "live")
        rec = self._as_recording(result.track)
        self.ref = neutral_reference(rec, self.spec, "first_seconds", self.neutral_seconds)
        self.calib_frames = []
        self.calibration_seconds = time.perf_counter() - t0

    def push(self, frame: LiveFrame) -> list[LiveLine]:
        """Track one frame; return the windows that closed with it (usually 0 or 1)."""
        if self.spec.needs_video:
            if self.tracker is None:
                self.tracker = FaceTracker(frame.image.shape[1], frame.image.shape[0],
                                           self.settings)
            self.ring.add(frame.index, self.tracker.step(frame.image))
            if self.ref is None:
                if frame.t < self.neutral_seconds:
                    self.calib_frames.append((frame.index, frame.image))
                else:
                    self._first_seconds_reference()
        out = []
        while True:
            start = self.next_window * self.hop
            last = start + self.length - 1                     # last model frame of the window
            if int(np.ceil(last * self.ratio - 1e-9)) > frame.index or self.ref is None:
                break
            oldest = self.ring.items[0][0] if self.spec.needs_video else 0
            if start * self.ratio < oldest:                    # frames already gone: a window
                self.skipped += 1                              # that closed before the neutral
                self.next_window += 1                          # reference was ready
                continue
            out.append(self._score(start, frame))
            self.next_window += 1
        return out

    def _score(self, start: int, frame: LiveFrame) -> LiveLine:
        t_wall, t_cpu = time.perf_counter(), time.thread_time()
        spec = self.spec
        w = Window("window", self.next_window, start, self.length,
                   np.arange(start, start + self.length, dtype=np.float64),
                   np.zeros(self.length, bool))
        closed = frame.arrival
        audio = None
        pad = 0
        if spec.needs_audio and self.audio is not None:
            spf = spec.samples_per_frame
            a0, n = start * spf, self.length * spf
            self.audio.wait_for(a0 + n, timeout=1.0)
            seg, pad = self.audio.segment(a0, n)
            if not pad:
                closed = max(closed, self.audio.arrival_of(a0 + n - 1))
            # The window's audio as a recording starting at the window (start frame 0); audio
            # that has not arrived is left out, so window_inputs pads it and masks its frames.
            audio = seg[:n - pad] if pad else seg
            w = dataclasses.replace(w, start=0)
            self.audio.trim((start + self.hop) * spf)
        track = self.ring.track() if spec.needs_video else None
        rec = self._as_recording(track, audio, self.length)
        xs = None
        if spec.needs_video and not track.success.any():
            probs = np.full(len(self.names), np.nan)
            tracked = 0.0
        else:
            if spec.needs_video:
                # positions are absolute video frame numbers, the ring's track keeps them
                w = dataclasses.replace(w, frames=np.arange(start, start + self.length,
                                                            dtype=np.float64))
            xs, masks, tracked = window_inputs(rec, spec, w, self.ref)
            probs = self.ensemble.posteriors({m: x[None] for m, x in xs.items()},
                                             {m: v[None] for m, v in masks.items()})[0]
        top = self.names[int(np.argmax(probs))] if np.isfinite(probs).all() else "no face"
        latency = (time.perf_counter() - closed) * 1000.0
        return LiveLine(start / spec.model_fps, (start + self.length) / spec.model_fps, probs, top,
                        latency, tracked, pad, xs, (time.perf_counter() - t_wall) * 1000.0,
                        (time.thread_time() - t_cpu) * 1000.0)


def line_text(line: LiveLine, names: list[str]) -> str:
    probs = " ".join(f"{n[:3]} {p:.2f}" for n, p in zip(names, line.probs))
    return (f"{line.start_s:7.2f}-{line.end_s:7.2f} s  {line.top:>9s}  {probs}  "
            f"latency {line.latency_ms:6.1f} ms")


def append_csv(path: Path, line: LiveLine, names: list[str], source: str, neutral: str) -> None:
    """Append one line (header first when the file is new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["wall_time", "source", "start_s", "end_s", *[f"p_{n}" for n in names],
                        "top", "latency_ms", "tracked", "audio_padded", "neutral"])
        w.writerow([datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
                    source, f"{line.start_s:.3f}", f"{line.end_s:.3f}",
                    *[f"{p:.6f}" for p in line.probs], line.top, f"{line.latency_ms:.1f}",
                    f"{line.tracked:.3f}", line.audio_padded, neutral])


def warm_up() -> None:
    """Load the face detector and landmark model before the first frame arrives (seconds)."""
    from features.tracker.detect import detect_face
    from features.tracker.landmarks import fit_landmarks

    detect_face(np.zeros((64, 64, 3), np.uint8), 1.0)
    fit_landmarks(np.zeros((64, 64), np.uint8), (8.0, 8.0, 56.0, 56.0), (0, 0))


@dataclasses.dataclass
class LiveRun:
    lines: list[LiveLine]
    frames: int
    seconds: float              # wall time from the first to the last frame processed
    process_seconds: float      # wall time spent decoding (unpaced), tracking and scoring
    cpu_seconds: float          # CPU time of this process over the run (all its threads)
    calibration_seconds: float
    width: int
    height: int
    fps: float


def run_live(source: str, models: list, spec: FeatureSpec, tracker: TrackerSettings,
             hop: int, neutral: str, neutral_seconds: float, calibration: OpenFaceTrack | None,
             pace: bool = True, max_seconds: float = 0.0, csv_path: Path | None = None,
             echo: Callable[[str], None] | None = print, window: int = 0) -> LiveRun:
    """Run live mode on ``source`` until it ends (or ``max_seconds`` of media time)."""
    video = LiveVideo(source, pace=pace) if spec.needs_video or not spec.needs_audio else None
    audio = None
    if spec.needs_audio:
        src = parse_source(source)
        if isinstance(src, int):
            raise VideoError(f"camera {src}: the models use {', '.join(spec.needs_audio)} (audio); "
                             f"live audio is read from files and stream URLs (give one)")
        _, channels, _ = probe_audio(src) if is_file(src) else (0, 2, 0)
        if is_file(src) and not channels:
            raise VideoError(f"{src}: the models use {', '.join(spec.needs_audio)} (audio) but "
                             f"the source has no audio stream")
        audio = LiveAudio(str(src), spec.sample_rate, channels or 2, pace=pace)
    fps = video.fps if video is not None else spec.model_fps
    scorer = LiveScorer(models, spec, tracker, fps, hop, neutral, neutral_seconds, calibration,
                        audio, window)
    names = scorer.names
    for note in scorer.notes:
        if echo:
            echo(f"note: {note}")
    lines: list[LiveLine] = []
    busy = 0.0
    n = 0
    t_first = None
    warm_up()
    cpu0 = time.process_time()
    try:
        if video is None:
            raise VideoError("audio-only live sources are not supported yet: give a video source")
        frames = video.frames()
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            if frame is None or (max_seconds and frame.t >= max_seconds):
                break
            t_first = t_first or frame.arrival
            if video.pace:
                t0 = time.perf_counter()     # paced: waiting for the next frame is not work
            for line in scorer.push(frame):
                lines.append(line)
                if echo:
                    echo(line_text(line, names))
                if csv_path is not None:
                    append_csv(csv_path, line, names, str(source), scorer.ref.source)
            busy += time.perf_counter() - t0
            n += 1
    finally:
        video.close() if video is not None else None
        if audio is not None:
            audio.close()
    wall = time.perf_counter() - (t_first or time.perf_counter())
    return LiveRun(lines, n, wall, busy, time.process_time() - cpu0, scorer.calibration_seconds,
                   video.width if video else 0, video.height if video else 0, fps)


def run_live_cli(source: str, params: dict[str, Any], csv: str | None, pace: bool,
                 seconds: float) -> int:
    """``python -m stages.predict --live SOURCE``: models, settings and the loop."""
    from models.predict import load_models

    problems = ProblemLog("predict")
    models = load_models(params, problems)
    for p in problems.items:
        print(f"warning: {p.path}: {p.problem} ({p.action})")
    first = models[0]
    spec = feature_spec(first.modalities, first.features, float(get(params, "predict.fps", 30)))
    tracker = TrackerSettings.from_params(get(params, "track", {}))
    neutral = str(get(params, "predict.neutral", "clip"))
    calibration = None
    if neutral == "calibration" and spec.needs_reference:
        cal = get(params, "predict.calibration", "")
        if not isinstance(cal, str) or not cal:
            raise SystemExit("stages.predict --live: predict.neutral calibration needs "
                             "predict.calibration to name one file")
        from features.media.video import probe_media

        calibration = track_recording(Path(cal), probe_media(cal).fps, tracker)
    csv_path = Path(csv or get(params, "predict.live.csv", "reports/predict/live.csv"))
    hop = int(get(params, "predict.live.hop", get(params, "predict.hop", 15)))
    print(f"live {source}: {len(models)} model(s) over {'+'.join(first.modalities)}; window "
          f"{spec.count} frames ({spec.count / spec.model_fps:.2f} s), hop {hop}; -> {csv_path}")
    try:
        run = run_live(source, models, spec, tracker, hop, neutral,
                       float(get(params, "predict.neutral_seconds", 2.0)), calibration,
                       pace=pace, max_seconds=seconds, csv_path=csv_path,
                       window=int(get(params, "predict.window", 0) or 0))
    except VideoError as exc:
        raise SystemExit(f"stages.predict --live: {exc}") from None
    lat = np.array([ln.latency_ms for ln in run.lines]) if run.lines else np.zeros(0)
    print(f"live {source}: {run.frames} frames in {run.seconds:.1f} s, {len(run.lines)} windows"
          + (f", latency median {np.median(lat):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms"
             if len(lat) else ""))
    return 0
