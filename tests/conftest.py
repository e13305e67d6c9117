"""Shared test helpers: small real media files made with the bundled ffmpeg binary."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from features.core.config import dump_params
from features.media.video import ffmpeg_exe


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


REPO = Path(__file__).resolve().parents[1]


def copy_project(dest: Path) -> Path:
    """Copy the project's source files (tracked and untracked-not-ignored, no data) into a new git repo.

    End-to-end tests run DVC there, so the developer's own data/ and reports/ are never touched.
    """
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if not src.is_file() or rel.startswith(("data/", "reports/")) or "/.pytest_cache/" in rel:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(src.read_bytes())
        target.chmod(src.stat().st_mode)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "config", "user.email", "ci@example.com"], dest)
    run(["git", "config", "user.name", "ci"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-qm", "project"], dest)
    return dest


def run(cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command, raising with its output on failure (so CI logs show why)."""
    import os
    full_env = {**os.environ, "DVC_NO_ANALYTICS": "1", **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def dump_yaml(obj) -> str:
    """YAML text that DVC reads back with the same types (``features.core.config.dump_params``)."""
    return dump_params(obj)


def set_params(repo: Path, updates: dict) -> None:
    """Set dotted keys in repo/params.yaml (keeps it a plain YAML file)."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in updates.items():
        node = params
        *parents, last = dotted.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    path.write_text(dump_yaml(params))
