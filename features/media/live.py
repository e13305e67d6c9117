"""Live media sources: video frames and audio samples as they arrive, with media timestamps.

* :class:`LiveVideo` reads a camera (``"0"`` -> device 0), a stream URL or a file with OpenCV,
  one frame at a time. A file is *played at its own frame rate* when ``pace`` is set (frame
  ``i`` is released at ``start + i / fps``), so live mode can be tested without a camera.
* :class:`LiveAudio` streams the source's audio through the bundled ffmpeg
  (``imageio-ffmpeg``) as raw 32-bit float PCM read in small chunks; with ``pace`` ffmpeg's
  ``-re`` reads a file at its native rate. Samples are kept with the wall time they arrived.

Timestamps are media time: frame ``i`` is at ``i / fps`` s, sample ``k`` at ``k / rate`` s,
which is how the two streams are aligned (not by arrival time).
"""

from __future__ import annotations

import dataclasses
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from features.media.video import VideoError, ffmpeg_exe


@dataclasses.dataclass
class LiveFrame:
    """One video frame: ``index`` (0-based), media time ``t`` s, BGR ``image (H, W, 3)`` uint8,
    ``arrival``: ``time.perf_counter()`` when it was available to the consumer."""

    index: int
    t: float
    image: np.ndarray
    arrival: float


def parse_source(source: str) -> int | str:
    """A camera index for an all-digit source, else the URL / path unchanged."""
    return int(source) if str(source).isdigit() else str(source)


def is_file(source: int | str) -> bool:
    return isinstance(source, str) and Path(source).exists()


class LiveVideo:
    """Frames of ``source`` as they arrive (see the module docstring).

    With ``pace`` (files) or for cameras and streams, a reader thread fills a queue; the
    consumer gets frames in order with their arrival time. Without ``pace`` a file is read on
    demand, as fast as the consumer takes frames (throughput measurement).
    """

    def __init__(self, source: str, pace: bool = True):
        self.source = parse_source(source)
        if isinstance(self.source, str) and not self.source.startswith(("rtsp:", "rtmp:", "http:",
                                                                         "https:", "udp:", "tcp:")):
            if not Path(self.source).exists():
                raise VideoError(f"{self.source}: file not found")
        self.cap = cv2.VideoCapture(self.source)
        if not self.cap.isOpened():
            raise VideoError(f"{source}: cannot open as a video source (camera, stream or file)")
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.file = is_file(self.source)
        self.pace = pace or not self.file
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _reader(self, t0: float) -> None:
        i = 0
        try:
            while not self._stop.is_set():
                ok, image = self.cap.read()
                if not ok:
                    break
                if self.file:                       # a file is released at its own frame rate
                    delay = t0 + i / self.fps - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                self._queue.put(LiveFrame(i, i / self.fps, image, time.perf_counter()))
                i += 1
        finally:
            self._queue.put(None)

    def start(self, t0: float | None = None) -> None:
        """Start reading (paced sources); ``t0`` is the wall time of media time 0."""
        if self.pace and self._thread is None:
            self._thread = threading.Thread(target=self._reader,
                                            args=(time.perf_counter() if t0 is None else t0,),
                                            daemon=True)
            self._thread.start()

    def frames(self) -> Iterator[LiveFrame]:
        """Frames in order until the source ends (or :meth:`close`)."""
        if self.pace:
            self.start()
            while True:
                item = self._queue.get()
                if item is None:
                    return
                yield item
        else:
            i = 0
            while not self._stop.is_set():
                ok, image = self.cap.read()
                if not ok:
                    return
                yield LiveFrame(i, i / self.fps, image, time.perf_counter())
                i += 1

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.cap.release()


class LiveAudio:
    """Audio of ``source`` at ``sample_rate`` Hz, mono-averaged later by the consumer.

    ``channels``: the stream's channel count (samples are kept per channel, averaged to mono by
    :func:`features.media.audio.to_mono` when a window is cut, as in training). ``input_args``
    are extra ffmpeg input options (e.g. ``["-f", "alsa"]`` with ``source`` ``default`` for a
    microphone).
    """

    CHUNK = 1600  # samples per read (1/30 s at 48 kHz)

    def __init__(self, source: str, sample_rate: int, channels: int, pace: bool = True,
                 input_args: list[str] | None = None):
        self.rate, self.channels = int(sample_rate), int(channels)
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error"]
        if pace and is_file(source):
            cmd.append("-re")
        cmd += list(input_args or []) + ["-i", str(source), "-vn", "-f", "f32le",
                                         "-acodec", "pcm_f32le", "-ac", str(self.channels),
                                         "-ar", str(self.rate), "pipe:"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._chunks: list[np.ndarray] = []
        self._arrivals: list[tuple[int, float]] = []   # (samples so far, arrival time)
        self._n = 0
        self._offset = 0            # absolute index of the first sample still held
        self._lock = threading.Lock()
        self.ended = threading.Event()
        self.error = ""
        self._thread = threading.Thread(target=self._reader, daemon=True)
        self._thread.start()

    def _reader(self) -> None:
        frame_bytes = 4 * self.channels
        want = self.CHUNK * frame_bytes
        pending = b""
        try:
            while True:
                data = self.proc.stdout.read1(want) if hasattr(self.proc.stdout, "read1") else \
                    self.proc.stdout.read(want)
                if not data:
                    break
                pending += data
                usable = len(pending) - len(pending) % frame_bytes
                if not usable:
                    continue
                block = np.frombuffer(pending[:usable], dtype="<f4").reshape(-1, self.channels)
                pending = pending[usable:]
                now = time.perf_counter()
                with self._lock:
                    self._chunks.append(block.copy())
                    self._n += block.shape[0]
                    self._arrivals.append((self._n, now))
        finally:
            self.proc.wait()
            if self.proc.returncode not in (0, None) and self._n == 0:
                err = self.proc.stderr.read().decode(errors="replace").strip()
                self.error = err.splitlines()[-1] if err else f"ffmpeg exit {self.proc.returncode}"
            self.ended.set()

    @property
    def available(self) -> int:
        """Samples per channel received so far."""
        with self._lock:
            return self._n

    def arrival_of(self, sample: int) -> float:
        """Wall time at which sample ``sample`` (0-based) arrived (inf if not yet)."""
        with self._lock:
            for n, t in self._arrivals:
                if n > sample:
                    return t
        return float("inf")

    def segment(self, start: int, length: int) -> tuple[np.ndarray, int]:
        """Samples ``[start, start + length)`` ``(length, channels)`` and how many zero samples
        pad its end (beyond what has arrived)."""
        with self._lock:
            if len(self._chunks) > 1:
                self._chunks = [np.concatenate(self._chunks)]
            data = self._chunks[0] if self._chunks else np.zeros((0, self.channels), np.float32)
            offset = self._offset
        if start < offset:
            raise ValueError(f"audio samples before {offset} were already dropped (asked {start})")
        seg = data[start - offset:start - offset + length]
        missing = length - seg.shape[0]
        if missing:
            seg = np.concatenate([seg, np.zeros((missing, self.channels), np.float32)])
        return seg, missing

    def wait_for(self, samples: int, timeout: float) -> bool:
        """Wait until ``samples`` samples arrived or the stream ended; False on timeout."""
        deadline = time.perf_counter() + timeout
        while self.available < samples and not self.ended.is_set():
            if time.perf_counter() > deadline:
                return False
            time.sleep(0.002)
        return self.available >= samples

    def trim(self, keep_from: int) -> None:
        """Drop samples before absolute index ``keep_from`` (indices stay absolute), so a long
        session holds only what the next windows need."""
        with self._lock:
            if len(self._chunks) > 1:
                self._chunks = [np.concatenate(self._chunks)]
            drop = max(0, keep_from - self._offset)
            if self._chunks and drop:
                self._chunks[0] = self._chunks[0][drop:]
                self._offset += drop
            self._arrivals = [(n, t) for n, t in self._arrivals if n > keep_from] or \
                self._arrivals[-1:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self._thread.join(timeout=2)
