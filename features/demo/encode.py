"""MP4 writer for the demo corpus (and for tests that craft their own inputs).

Frames are piped as raw BGR to the ffmpeg binary that imageio-ffmpeg ships (it has libx264 and
the native AAC encoder), the audio goes through a temporary WAV file, and the mp4 is written under
a temporary name beside the target and renamed on success, so no half-written clip is ever visible.

Determinism: one encoder thread (``-threads 1``) and ffmpeg's bit-exact flags with no metadata, so
the same frames and samples give the same bytes.
"""

from __future__ import annotations

import itertools
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from features.core.atomic import atomic_path
from features.media.video import ffmpeg_exe

# x264 settings: ``superfast`` keeps the default corpus fast (about 1.5 ms a 640x360 frame on one
# core, ~120 kB a clip; ``veryfast`` halves the size for ~20 % more encoding time, ``ultrafast``
# saves another ~25 % of the time for 3x the size); crf 20 leaves no visible artefact on the
# smooth warped photograph, so a tracker sees the face, not the compression. AAC: ffmpeg's
# native encoder with its fast coder (half the time of the default two-loop search), 128 kb/s.
X264_PRESET = "superfast"
X264_CRF = 20
AAC_BITRATE = "128k"
AAC_OPTIONS = ["-aac_coder", "fast"]
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
            "-map_metadata", "-1"]


class EncodeError(RuntimeError):
    """ffmpeg could not write the clip (the message names the file and ffmpeg's last words)."""


def _audio_2d(audio: np.ndarray, path: Path) -> np.ndarray:
    """``(samples,)`` or ``(samples, channels)`` float -> ``(samples, channels)`` float32 in [-1, 1]."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] < 1 or a.shape[1] > 8 or a.shape[0] == 0:
        raise ValueError(f"{path}: audio must be (samples,) or (samples, channels<=8) with samples > 0,"
                         f" got shape {np.shape(audio)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{path}: audio holds NaN or inf samples")
    return np.clip(a, -1.0, 1.0)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int = 48000) -> Path:
    """Write ``audio`` (samples, channels) float in [-1, 1] as 16-bit PCM WAV (values are clipped)."""
    path = Path(path)
    a = _audio_2d(audio, path)
    pcm = np.round(a * 32767.0).astype(np.int16)
    wavfile.write(path, int(sample_rate), pcm if pcm.shape[1] > 1 else pcm[:, 0])
    return path


def _widen_pipe(fd: int, nbytes: int) -> None:
    """Grow the pipe buffer towards one frame (Linux F_SETPIPE_SZ): fewer context switches."""
    try:
        import fcntl
        fcntl.fcntl(fd, 1031, min(max(nbytes, 65536), 1 << 20))   # 1031 = F_SETPIPE_SZ
    except (ImportError, OSError):                                  # other OS or over the limit
        pass


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], fps: float,
              audio: np.ndarray | None = None, sample_rate: int = 48000,
              crf: int = X264_CRF, preset: str = X264_PRESET) -> Path:
    """Encode BGR frames (each ``(H, W, 3)`` uint8, H and W even) and optional audio to an mp4.

    Video: H.264 (libx264, yuv420p) at ``fps``. Audio: ``(samples, channels)`` or ``(samples,)``
    float32 in [-1, 1] at ``sample_rate`` Hz, stored as AAC with the same rate and channel count;
    ``audio=None`` writes a clip without an audio stream. ``frames`` is consumed lazily (any
    iterable), so a long clip is never held in memory. Returns ``path``. Raises ``ValueError`` for
    bad frames/audio and :class:`EncodeError` when ffmpeg fails; the target is untouched then.
    """
    path = Path(path)
    it = iter(frames)
    try:
        first = np.asarray(next(it))
    except StopIteration:
        raise ValueError(f"{path}: no frames to encode") from None
    if first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be (H, W, 3) uint8 BGR, got {first.shape} {first.dtype}")
    h, w = first.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"{path}: H.264 yuv420p needs even width and height, got {w}x{h}")
    with tempfile.TemporaryDirectory(prefix="demo-encode-") as tmp, \
            atomic_path(path, suffix=".mp4") as out:
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-r", f"{fps}", "-i", "pipe:0"]
        if audio is not None:
            wav = write_wav(Path(tmp) / "audio.wav", audio, sample_rate)
            channels = _audio_2d(audio, path).shape[1]
            cmd += ["-i", str(wav), "-map", "0:v:0", "-map", "1:a:0",
                    "-c:a", "aac", *AAC_OPTIONS, "-b:a", AAC_BITRATE, "-ar", str(int(sample_rate)),
                    "-ac", str(channels)]
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
                "-threads", "1", *BITEXACT, "-f", "mp4", str(out)]
        err_file = Path(tmp) / "ffmpeg.log"
        with err_file.open("wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
            assert proc.stdin is not None
            _widen_pipe(proc.stdin.fileno(), first.nbytes)
            n = 0
            try:
                for frame in itertools.chain([first], it):
                    frame = np.asarray(frame)
                    if frame.shape != first.shape or frame.dtype != np.uint8:
                        raise ValueError(f"{path}: frame {n} is {frame.shape} {frame.dtype}, "
                                         f"expected {first.shape} uint8")
                    proc.stdin.write(np.ascontiguousarray(frame).tobytes())
                    n += 1
            except BrokenPipeError:
                pass
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            rc = proc.wait()
        if rc != 0:
            tail = err_file.read_text(errors="replace").strip().splitlines()[-3:]
            raise EncodeError(f"{path}: ffmpeg exited with {rc}: {' | '.join(tail)}")
    return path
