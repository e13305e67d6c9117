"""Truncated clips for the tests: a real small mp4 (moov atom first) cut mid-stream.

A plain ffmpeg write puts the index (moov atom) at the end, so a cut copy does not open at all;
with the index first (``+faststart``) the header still declares every frame while only those
before the cut decode: the case of a download or copy stopped part-way.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from features.media.video import ffmpeg_exe
from tests.conftest import make_clip
from tests.robustness.media import truncate


def faststart_clip(path: Path, seconds: float = 2.0, size: str = "64x48") -> Path:
    """Write a test-pattern clip with sound (``make_clip``) whose moov atom comes first."""
    plain = make_clip(path.with_name(path.stem + ".plain.mp4"), seconds=seconds, size=size)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(plain), "-c", "copy",
                    "-movflags", "+faststart", str(path)], check=True)
    plain.unlink()
    return path


def cut_clip(path: Path, seconds: float = 2.0, keep: float = 0.6) -> Path:
    """A faststart clip of ``seconds`` at 30 fps keeping only its first ``keep`` of bytes."""
    return truncate(faststart_clip(path, seconds), keep)
