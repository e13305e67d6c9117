"""The one video reader (OpenCV, streaming frame by frame) and the media prober.

Frames are yielded one at a time as ``(index, frame)`` with ``frame`` a ``(H, W, 3)`` uint8 BGR
array, so a whole video is never held in memory. Probing reads the container header with
OpenCV and the audio stream description with the ffmpeg binary that ``imageio-ffmpeg`` ships.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np


class VideoError(RuntimeError):
    """A video that cannot be opened or decoded (the message names the file)."""


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg (no system ffmpeg needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclasses.dataclass(frozen=True)
class MediaProbe:
    """Facts about one media file; video fields are 0 for audio-only files."""

    frames: int           # frames that decode (counted by reading the stream)
    fps: float
    width: int
    height: int
    duration_s: float
    audio_rate: int       # 0 when there is no audio stream
    audio_channels: int
    header_frames: int    # frame count the container claims (differs when truncated)

    def truncation(self) -> str | None:
        """Why this file looks truncated (decoded vs declared frames, :func:`truncation`), or None."""
        return truncation(self.frames, self.header_frames)


_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: .*?(\d+) Hz, ([^,]+)")
_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+\.\d+)")


def _channels(layout: str) -> int:
    layout = layout.strip()
    named = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "7.1": 8}
    if layout in named:
        return named[layout]
    m = re.match(r"(\d+) channels", layout)
    if m:
        return int(m.group(1))
    return int(named.get(layout.split("(")[0], 0))


def probe_audio(path: str | Path) -> tuple[int, int, float]:
    """(sample rate, channels, duration s) of the first audio stream; (0, 0, d) if there is none."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                          capture_output=True, text=True, errors="replace")
    err = proc.stderr
    if "Invalid data found" in err or "moov atom not found" in err or "No such file" in err:
        tail = err.strip().splitlines()[-1] if err.strip() else "unreadable"
        raise VideoError(f"{path}: ffmpeg cannot read the file ({tail})")
    dur = 0.0
    m = _DURATION.search(err)
    if m:
        h, mi, s = m.groups()
        dur = int(h) * 3600 + int(mi) * 60 + float(s)
    m = _AUDIO.search(err)
    if not m:
        return 0, 0, dur
    return int(m.group(1)), _channels(m.group(2)), dur


def open_video(path: str | Path) -> cv2.VideoCapture:
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(f"{path}: cannot open as video (corrupt or not a video)")
    return cap


def iter_frames(path: str | Path, indices: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame (H, W, 3) uint8 BGR)`` for every frame, or for sorted ``indices``.

    Decoding is sequential (frames skipped with ``grab`` are not converted), which is both
    exact and fast for the short RAVDESS clips. Stops quietly at the last decodable frame;
    callers compare the count with what they expected and report truncation.
    """
    wanted = None if indices is None else sorted(set(int(i) for i in indices))
    cap = open_video(path)
    try:
        i = 0
        pos = 0
        while True:
            if wanted is not None:
                if pos >= len(wanted):
                    return
                if i < wanted[pos]:
                    if not cap.grab():
                        return
                    i += 1
                    continue
            ok, frame = cap.read()
            if not ok:
                return
            yield i, frame
            i += 1
            if wanted is not None:
                pos += 1
    finally:
        cap.release()


def count_frames(path: str | Path) -> int:
    """Number of frames that actually decode (grab only, no colour conversion)."""
    cap = open_video(path)
    n = 0
    try:
        while cap.grab():
            n += 1
    finally:
        cap.release()
    return n


def declared_frames(path: str | Path) -> int:
    """Frame count the container's header declares (0 when it declares none); nothing is decoded."""
    cap = open_video(path)
    try:
        return max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        cap.release()


def truncation_tolerance(declared: int) -> int:
    """Frames a header may over-count on an intact file: ``max(2, 1 % of declared)``.

    Header counts of intact files are often off by a frame or two (edit lists, B-frame delay,
    counts estimated from duration x fps), more in proportion on long clips; a cut file loses
    far more (a byte cut at 70 % loses about 30 % of the frames)."""
    return max(2, round(0.01 * declared))


def truncation(decoded: int, declared: int) -> str | None:
    """``"truncated: <decoded> of <declared> frames decode"`` when fewer frames decode than the
    container declares, beyond :func:`truncation_tolerance`; None otherwise, and always None when
    the container declares no count (``declared <= 0``). Callers prefix the file's name."""
    if declared <= 0 or decoded >= declared - truncation_tolerance(declared):
        return None
    return f"truncated: {decoded} of {declared} frames decode"


def probe_media(path: str | Path) -> MediaProbe:
    """Probe a video (or audio-only) file; raises VideoError naming the file if it is unreadable."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    rate, channels, dur = probe_audio(path)
    if path.suffix.lower() in {".wav", ".flac", ".mp3", ".aac", ".m4a"}:
        if rate == 0:
            raise VideoError(f"{path}: no audio stream")
        return MediaProbe(0, 0.0, 0, 0, dur, rate, channels, 0)
    cap = open_video(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        header_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    frames = count_frames(path)
    if frames == 0:
        raise VideoError(f"{path}: no frame decodes (corrupt or truncated video)")
    duration = frames / fps if fps else dur
    return MediaProbe(frames, fps, width, height, round(duration, 4), rate, channels, header_frames)
