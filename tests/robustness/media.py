"""Real small inputs for the robustness and scale-out tests: face clips with sound, broken files,
stage working folders.

Face clips show the tracker's bundled portrait (``tests.helpers.synthetic_faces``) moving in a small
frame, encoded with the demo corpus's mp4 writer (H.264 + AAC, moov at the end like a plain
ffmpeg write); everything is built fresh by each test session, nothing is checked in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from features.core.config import dump_params
from features.demo.encode import write_mp4
from features.media.video import ffmpeg_exe
from tests.helpers.synthetic_faces import base_face, motion

REPO = Path(__file__).resolve().parents[2]
SIZE = (160, 120)  # width, height: the smallest frame in which dlib still finds the portrait


def face_frames(n: int, size: tuple[int, int] = SIZE, seed: int = 0, face: bool = True
                ) -> Iterator[np.ndarray]:
    """``n`` BGR frames ``(H, W, 3)`` uint8 of the portrait moving smoothly (``face=False``: the
    noisy grey background only, no face anywhere)."""
    w, h = size
    image, _ = base_face()
    background = np.full((h, w, 3), 96, np.uint8)
    cv2.randn(background, 96, 12)
    mats = motion(n, w, h, face_width=0.42 * w, seed=seed, amplitude=0.5)
    for m in mats:
        yield (cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT) if face else background.copy())


def tone(n_frames: int, channels: int = 2, fps: float = 30.0, rate: int = 48000,
         seed: int = 0) -> np.ndarray:
    """A voiced-like test sound ``(samples, channels)`` float32 lasting ``n_frames`` video frames."""
    t = np.arange(int(round(n_frames / fps * rate))) / rate
    f0 = 140 + 20 * seed
    a = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) * (0.3 + 0.2 * np.sin(3 * t))
    a = (0.2 * a).astype(np.float32)
    return np.stack([a * (1 - 0.1 * c) for c in range(channels)], axis=1)


def face_clip(path: Path, n_frames: int = 96, channels: int | None = 2, face: bool = True,
              seed: int = 0, size: tuple[int, int] = SIZE, faststart: bool = False) -> Path:
    """Write a face clip (``channels=None``: no audio stream; ``faststart``: moov atom first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = None if channels is None else tone(n_frames, channels, seed=seed)
    target = path.with_name(path.stem + ".plain.mp4") if faststart else path
    write_mp4(target, face_frames(n_frames, size, seed, face), 30, audio)
    if faststart:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(target), "-c", "copy",
                        "-movflags", "+faststart", str(path)], check=True)
        target.unlink()
    return path


def truncate(path: Path, fraction: float) -> Path:
    """Keep the first ``fraction`` of the file's bytes (a download or copy cut mid-stream)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def moov_first(path: Path) -> bool:
    """True when the mp4's moov atom (the index) comes before its mdat (the media data)."""
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


def write_params(work: Path, updates: dict[str, Any]) -> dict:
    """``work/params.yaml``: the repository's params with dotted-key ``updates``."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for dotted, value in updates.items():
        node = params
        *parents, last = dotted.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    work.mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(dump_params(params))
    return params


def stage_env() -> dict[str, str]:
    """Environment for ``python -m stages.<name>`` run from a working folder outside the repo."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def stage_cmd(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"stages.{name}", *args]


def hidden_files(root: Path) -> list[Path]:
    """Every file or folder below ``root`` whose name starts with a dot (temporary names)."""
    return sorted(p for p in Path(root).rglob(".*"))
