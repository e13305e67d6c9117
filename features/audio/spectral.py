"""Hand-crafted audio features: log-Mel spectrogram (LMS, 88 x 24) and MFCC (88 x 39).

Recipe (Houmard): 140 800 mono samples at 48 kHz, 24 mel bands, window 4800, hop 1600, f_max
17 kHz, power spectrogram in dB -> 88 x 24 (torchaudio, the PyTorch implementation the thesis
names).

Framing (papers silent; parameter ``framing``). 140 800 / 1600 = 88, but torchaudio gives 89
frames with ``center=True`` and (140 800 - 4800) / 1600 + 1 = 86 with ``center=False``. Choices:

* ``video_aligned`` (default): reflect-pad (n_fft - hop) / 2 = 1600 samples on both sides, then
  frame without centring: exactly 88 frames, frame k centred at k * 1600 + 800, i.e. on the
  middle of video frame k's 1600 samples (30 fps), so the LMS time axis lines up with the 88
  middle video frames used by every visual feature.
* ``center_drop_last``: torchaudio ``center=True`` (reflect padding n_fft / 2) and drop the 89th
  frame (centred on the last sample, mostly padding); frame k is centred at k * 1600.

Both give ``samples // hop`` frames. MFCC is "librosa-style": torchaudio ``MFCC`` with
``log_mels=False`` (power -> dB with top_db 80, like librosa's ``power_to_db``), DCT-II with
orthonormal scaling, and by default the Slaney mel scale and filter normalisation (librosa's
defaults; parameters ``mel_scale``/``mel_norm``). The LMS keeps torchaudio's defaults (HTK scale,
no filter normalisation, no top_db clamp), which is what "the default implementation from
PyTorch" in the thesis computes.

dB reference (``db_ref``): ``absolute`` (default; torchaudio's ``AmplitudeToDB``: 10 log10 of the
power with ``ref = 1``, ``amin = 1e-10``) or ``max`` (librosa's ``power_to_db(S, ref=np.max)``: dB
relative to the clip's own peak, so the loudest bin is 0 dB and the clip's overall gain
cancels). ``top_db`` floors values at ``peak - top_db`` in either case (torchaudio and librosa
both clamp relative to the clip's peak).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
import torchaudio

FRAMINGS = ("video_aligned", "center_drop_last")
DB_REFS = ("absolute", "max")


def _check(n_fft: int, hop: int, framing: str) -> None:
    if framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
    if hop <= 0 or n_fft < hop:
        raise ValueError(f"need 0 < hop <= n_fft, got n_fft={n_fft}, hop={hop}")


def frame_count(samples: int, hop: int) -> int:
    """Spectrogram frames for ``samples`` input samples: ``samples // hop`` (88 for 140 800 / 1600)."""
    return int(samples) // int(hop)


def frame_centres(n_frames: int, n_fft: int, hop: int, framing: str = "video_aligned") -> np.ndarray:
    """``(n_frames,)`` centre of each analysis window, in samples of the unpadded signal."""
    _check(n_fft, hop, framing)
    k = np.arange(n_frames, dtype=np.float64)
    if framing == "center_drop_last":
        return k * hop
    left = (n_fft - hop) // 2
    return k * hop - left + n_fft / 2


def _frame_input(mono: torch.Tensor, n_fft: int, hop: int, framing: str) -> torch.Tensor:
    """Pad ``(samples,)`` as ``framing`` requires before a ``center=False`` STFT (or not at all)."""
    if framing == "center_drop_last":
        return mono
    left = (n_fft - hop) // 2
    right = n_fft - hop - left
    if mono.shape[0] <= max(left, right):
        raise ValueError(f"{mono.shape[0]} samples are too few for window {n_fft} / hop {hop}")
    return torch.nn.functional.pad(mono[None, None], (left, right), mode="reflect")[0, 0]


def _mel_kwargs(n_fft: int, hop: int, n_mels: int, f_max: float | None, f_min: float,
                mel_scale: str, mel_norm: str | None, framing: str) -> dict[str, Any]:
    return dict(n_fft=n_fft, win_length=n_fft, hop_length=hop, n_mels=n_mels, f_min=f_min,
                f_max=f_max, center=framing == "center_drop_last", pad_mode="reflect",
                power=2.0, mel_scale=mel_scale, norm=mel_norm)


@functools.lru_cache(maxsize=8)
def _lms_transform(sample_rate: int, n_fft: int, hop: int, n_mels: int, f_max: float | None,
                   f_min: float, mel_scale: str, mel_norm: str | None, framing: str,
                   top_db: float | None) -> torch.nn.Module:
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, **_mel_kwargs(n_fft, hop, n_mels, f_max, f_min, mel_scale,
                                               mel_norm, framing))
    return torch.nn.Sequential(mel, torchaudio.transforms.AmplitudeToDB("power", top_db=top_db))


@functools.lru_cache(maxsize=8)
def _mfcc_transform(sample_rate: int, n_mfcc: int, n_fft: int, hop: int, n_mels: int,
                    f_max: float | None, f_min: float, mel_scale: str, mel_norm: str | None,
                    framing: str) -> torch.nn.Module:
    return torchaudio.transforms.MFCC(
        sample_rate=sample_rate, n_mfcc=n_mfcc, dct_type=2, norm="ortho", log_mels=False,
        melkwargs=_mel_kwargs(n_fft, hop, n_mels, f_max, f_min, mel_scale, mel_norm, framing))


def _run(transform: torch.nn.Module, mono: np.ndarray, n_fft: int, hop: int,
         framing: str) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))
    if x.ndim != 1:
        raise ValueError(f"expected mono samples (samples,), got shape {tuple(x.shape)}")
    with torch.inference_mode():
        out = transform(_frame_input(x, n_fft, hop, framing))   # (bands, frames)
    n = frame_count(x.shape[0], hop)
    if out.shape[-1] < n:
        raise ValueError(f"got {out.shape[-1]} frames, expected {n} (framing {framing})")
    return out[:, :n].T.contiguous().numpy().astype(np.float32)


def log_mel(mono: np.ndarray, sample_rate: int = 48000, n_mels: int = 24, n_fft: int = 4800,
            hop: int = 1600, f_max: float | None = 17000, f_min: float = 0.0,
            mel_scale: str = "htk", mel_norm: str | None = None, framing: str = "video_aligned",
            top_db: float | None = None, db_ref: str = "absolute") -> np.ndarray:
    """Log-Mel spectrogram in dB of ``mono`` ``(samples,)`` -> ``(samples // hop, n_mels)`` float32.

    Defaults are the paper's: 140 800 samples at 48 kHz -> ``(88, 24)``. ``db_ref`` ``max``
    subtracts the clip's peak dB (librosa ``ref=np.max``), see the module doc.
    """
    _check(n_fft, hop, framing)
    if db_ref not in DB_REFS:
        raise ValueError(f"db_ref must be one of {DB_REFS}, got {db_ref!r}")
    t = _lms_transform(int(sample_rate), int(n_fft), int(hop), int(n_mels),
                       None if f_max is None else float(f_max), float(f_min), mel_scale,
                       mel_norm, framing, None if top_db is None else float(top_db))
    out = _run(t, mono, n_fft, hop, framing)
    if db_ref == "max" and out.size:
        out = out - out.max()
    return out


def mfcc(mono: np.ndarray, sample_rate: int = 48000, n_mfcc: int = 39, n_mels: int = 40,
         n_fft: int = 4800, hop: int = 1600, f_max: float | None = 17000, f_min: float = 0.0,
         mel_scale: str = "slaney", mel_norm: str | None = "slaney",
         framing: str = "video_aligned") -> np.ndarray:
    """MFCCs of ``mono`` ``(samples,)`` -> ``(samples // hop, n_mfcc)`` float32 (librosa-style, see module doc)."""
    _check(n_fft, hop, framing)
    if n_mfcc > n_mels:
        raise ValueError(f"n_mfcc ({n_mfcc}) cannot exceed n_mels ({n_mels})")
    t = _mfcc_transform(int(sample_rate), int(n_mfcc), int(n_fft), int(hop), int(n_mels),
                        None if f_max is None else float(f_max), float(f_min), mel_scale,
                        mel_norm, framing)
    return _run(t, mono, n_fft, hop, framing)


SETTINGS = {
    "lms": ("n_mels", "n_fft", "hop", "f_max", "f_min", "mel_scale", "mel_norm", "framing",
            "top_db", "db_ref"),
    "mfcc": ("n_mfcc", "n_mels", "n_fft", "hop", "f_max", "f_min", "mel_scale", "mel_norm",
             "framing"),
}


def spectral_feature(name: str, mono: np.ndarray, sample_rate: int,
                     settings: dict[str, Any]) -> np.ndarray:
    """``lms`` or ``mfcc`` of ``mono`` with the params section ``features.<name>`` as ``settings``.

    Unknown keys are ignored; missing keys take the function defaults above.
    """
    if name not in SETTINGS:
        raise ValueError(f"unknown spectral feature {name!r} (lms | mfcc)")
    kwargs = {k: settings[k] for k in SETTINGS[name] if k in settings}
    fn = log_mel if name == "lms" else mfcc
    return fn(mono, sample_rate=sample_rate, **kwargs)


def spectral_centres(n_frames: int, settings: dict[str, Any]) -> np.ndarray:
    """Window centres (samples) of the ``n_frames`` frames that :func:`spectral_feature` returns."""
    return frame_centres(n_frames, int(settings.get("n_fft", 4800)), int(settings.get("hop", 1600)),
                         settings.get("framing", "video_aligned"))
