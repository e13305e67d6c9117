"""Shared test helpers: small real media files made with the bundled ffmpeg binary."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from features.video import ffmpeg_exe


def make_clip(path: Path, seconds: float = 3.2, size: str = "64x48", fps: int = 30,
              audio_channels: int | None = 2, video: bool = True, sample_rate: int = 48000) -> Path:
    """Write a small real clip with ffmpeg's test sources (H.264 + AAC mp4, or a wav when video=False).

    ``audio_channels=None`` writes a video without an audio stream.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg_exe(), "-v", "error", "-y"]
    if video:
        cmd += ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}"]
    if audio_channels:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={sample_rate}"]
    cmd += ["-t", f"{seconds}"]
    if video:
        cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"]
    if audio_channels:
        cmd += ["-ac", str(audio_channels), "-ar", str(sample_rate)]
        cmd += ["-c:a", "aac"] if video else ["-c:a", "pcm_s16le"]
    cmd.append(str(path))
    subprocess.run(cmd, check=True)
    return path


@pytest.fixture
def clip_factory():
    """The :func:`make_clip` helper as a fixture."""
    return make_clip
