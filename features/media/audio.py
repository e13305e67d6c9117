"""Audio decoding and the paper's sample selection: the 140 800 middle samples at 48 kHz, mono.

One helper decodes a clip's audio with the bundled ffmpeg (``ffmpeg-python`` builds the command,
``features.media.video.ffmpeg_exe()`` is the binary) straight into numpy through a pipe, as 32-bit
floats at 48 kHz with the file's own channels (no temporary wav, no remix by ffmpeg). The centre
segment is then cut (or zero-padded symmetrically when the clip is shorter, and the pad amount
returned so the stage can report it) and the channels are averaged to mono (Houmard: "the stereo
signal was then converted into a mono signal by averaging the two channels").
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import ffmpeg
import numpy as np

from features.media.video import VideoError, ffmpeg_exe, probe_audio

SAMPLE_RATE = 48000        # Hz, RAVDESS native rate
MIDDLE_SAMPLES = 140800    # = 88 video frames at 30 fps (1600 samples per frame)


class AudioError(RuntimeError):
    """A clip whose audio cannot be decoded (no audio stream, unreadable); the message names the file."""


@dataclasses.dataclass(frozen=True)
class ClipAudio:
    """The selected mono samples of one clip and how they were obtained."""

    mono: np.ndarray       # (samples,) float32 at ``sample_rate``
    sample_rate: int       # Hz
    pad_before: int        # zero samples added before the audio (0 when the clip is long enough)
    pad_after: int         # zero samples added after the audio
    decoded_samples: int   # samples per channel the file decoded to (at ``sample_rate``)
    channels: int          # channels of the file that were averaged

    @property
    def padded(self) -> int:
        """Total zero samples added (0 for a clip at least as long as the segment)."""
        return self.pad_before + self.pad_after


def decode_audio(path: str | Path, sample_rate: int = SAMPLE_RATE,
                 channels: int | None = None) -> np.ndarray:
    """Decode the first audio stream of ``path`` -> ``(samples, channels)`` float32 at ``sample_rate`` Hz.

    ``channels`` is the stream's native channel count (from the manifest); ``None`` probes the
    file. Raises :class:`AudioError` naming the file when it has no audio stream or does not decode.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if channels is None or channels <= 0:
        try:
            _, channels, _ = probe_audio(path)
        except VideoError as exc:
            raise AudioError(str(exc)) from exc
    if not channels:
        raise AudioError(f"{path}: no audio stream")
    try:
        out, _ = (ffmpeg.input(str(path))
                  .output("pipe:", format="f32le", acodec="pcm_f32le", ac=int(channels),
                          ar=int(sample_rate), vn=None)
                  .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
                  .run(cmd=ffmpeg_exe(), capture_stdout=True, capture_stderr=True))
    except ffmpeg.Error as exc:
        err = (exc.stderr or b"").decode(errors="replace").strip()
        tail = err.splitlines()[-1] if err else "ffmpeg failed"
        if "does not contain any stream" in err or "matches no streams" in err:
            raise AudioError(f"{path}: no audio stream") from exc
        raise AudioError(f"{path}: audio does not decode ({tail})") from exc
    data = np.frombuffer(out, dtype="<f4")
    if data.size == 0:
        raise AudioError(f"{path}: no audio samples decode (empty or missing audio stream)")
    if data.size % channels:
        raise AudioError(f"{path}: decoded {data.size} floats, not a multiple of {channels} channels")
    return data.reshape(-1, channels).astype(np.float32, copy=True)


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE,
                video_size: str | None = None, fps: int = 30) -> Path:
    """Encode ``audio`` ``(samples, channels)`` float to ``path`` with the bundled ffmpeg.

    ``.wav`` is 32-bit float PCM (exact round trip); other extensions get AAC. ``video_size``
    (e.g. ``"64x48"``) adds an H.264 test-pattern video stream of the same duration (mp4 clips
    for tests and benchmarks).
    """
    import subprocess

    path = Path(path)
    audio = np.asarray(audio, dtype="<f4")
    if audio.ndim == 1:
        audio = audio[:, None]
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "f32le", "-ar", str(sample_rate),
           "-ac", str(audio.shape[1]), "-i", "pipe:"]
    if video_size:
        seconds = audio.shape[0] / sample_rate
        cmd += ["-f", "lavfi", "-i", f"testsrc=size={video_size}:rate={fps}:duration={seconds}",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"]
    cmd += ["-c:a", "pcm_f32le" if path.suffix.lower() == ".wav" else "aac", str(path)]
    subprocess.run(cmd, input=np.ascontiguousarray(audio).tobytes(), check=True)
    return path


def centre_segment(audio: np.ndarray, length: int = MIDDLE_SAMPLES) -> tuple[np.ndarray, int, int]:
    """The ``length`` middle samples of ``audio`` ``(samples, ...)`` and the zero padding used.

    A longer signal is cut from ``(samples - length) // 2``; a shorter one is padded with zeros,
    ``(length - samples) // 2`` before and the rest after. Returns ``(segment (length, ...),
    pad_before, pad_after)``.
    """
    n = audio.shape[0]
    if n >= length:
        start = (n - length) // 2
        return audio[start:start + length], 0, 0
    before = (length - n) // 2
    after = length - n - before
    widths = [(before, after)] + [(0, 0)] * (audio.ndim - 1)
    return np.pad(audio, widths), before, after


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels: ``(samples, channels)`` -> ``(samples,)`` float32."""
    if audio.ndim == 1:
        return audio.astype(np.float32, copy=False)
    return audio.mean(axis=1, dtype=np.float64).astype(np.float32)


def middle_audio(path: str | Path, samples: int = MIDDLE_SAMPLES, sample_rate: int = SAMPLE_RATE,
                 channels: int | None = None) -> ClipAudio:
    """Decode ``path``, keep its ``samples`` middle samples at ``sample_rate`` Hz, average to mono.

    The paper's audio input: 140 800 samples at 48 kHz (the 88 middle video frames). Raises
    :class:`AudioError` for a clip without (decodable) audio.
    """
    audio = decode_audio(path, sample_rate, channels)
    segment, before, after = centre_segment(audio, samples)
    return ClipAudio(to_mono(segment), int(sample_rate), before, after, audio.shape[0],
                     audio.shape[1])


def valid_frames(centres: np.ndarray, pad_before: int, pad_after: int, samples: int) -> np.ndarray:
    """``(frames,)`` bool: whether each analysis frame's centre (sample index) lies in real audio.

    Frames centred in the zero padding of a short clip are marked invalid in feature files.
    """
    centres = np.asarray(centres, dtype=np.float64)
    return (centres >= pad_before) & (centres < samples - pad_after)


def try_middle_audio(path: str | Path, samples: int = MIDDLE_SAMPLES,
                     sample_rate: int = SAMPLE_RATE, channels: int | None = None
                     ) -> tuple[ClipAudio | None, str]:
    """:func:`middle_audio` for parallel per-clip loops: ``(clip, "")`` or ``(None, error message)``.

    Only :class:`AudioError` (a bad clip, which the stage reports and skips) is turned into a
    message; anything else is a bug and propagates.
    """
    try:
        return middle_audio(path, samples, sample_rate, channels), ""
    except AudioError as exc:
        return None, str(exc)


def pad_note(clip: ClipAudio, samples: int) -> str:
    """Problems-report text for a clip shorter than the segment (zero-padded)."""
    return (f"audio has {clip.decoded_samples} samples at {clip.sample_rate} Hz, fewer than "
            f"{samples}: zero-padded {clip.pad_before} before and {clip.pad_after} after "
            "(frames centred in the padding are marked invalid)")


NO_AUDIO = "no audio stream"


def no_audio_problem(audio_rate: int | float | None) -> str | None:
    """The problem an audio stage reports for a manifest clip without audio (``audio_rate`` 0),
    else None. Such clips are in the manifest only with ``dataset.require_audio: false``."""
    if audio_rate:
        return None
    return (f"{NO_AUDIO} (audio_rate 0 in the manifest; kept by ingest for visual-only runs, "
            f"dataset.require_audio: false): no audio feature")
