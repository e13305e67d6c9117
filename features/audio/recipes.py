"""Per-clip recipe of the spectral features (stage ``audio``) for
:func:`features.core.runner.run_actor`: each clip's audio is decoded once (the ``samples`` middle
samples at ``sample_rate`` Hz, :mod:`features.media.audio`) and every spectral feature
(:mod:`features.audio.spectral`) is computed from it. A clip without audio is reported and
skipped; a short clip is zero-padded, reported, and its frames centred in the padding are marked
invalid; a clip at another native rate is resampled by ffmpeg and reported.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from features.audio.spectral import spectral_centres, spectral_feature
from features.core.config import get
from features.core.runner import Clip, Feature, Note, Output, Source
from features.media.audio import (
    AudioError,
    ClipAudio,
    middle_audio,
    no_audio_problem,
    pad_note,
    valid_frames,
)

SPECTRAL = ("lms", "mfcc")


@dataclasses.dataclass(frozen=True)
class AudioSettings:
    samples: int      # middle samples kept (features.audio.samples)
    sample_rate: int  # Hz (features.audio.sample_rate)


@dataclasses.dataclass
class AudioInputs:
    audio: ClipAudio
    source: str              # the media file's fingerprint
    notes: list[Note]        # resampling and padding, reported for every feature


def load_audio(clip: Clip, cfg: AudioSettings) -> AudioInputs:
    """Decode the clip's middle samples once (AudioError for a clip without audio)."""
    missing = no_audio_problem(clip.audio_rate)
    if missing:
        raise AudioError(missing)
    audio = middle_audio(clip.media, cfg.samples, cfg.sample_rate, clip.audio_channels)
    notes: list[Note] = []
    if clip.audio_rate and clip.audio_rate != cfg.sample_rate:
        notes.append((f"audio sample rate {clip.audio_rate} Hz, resampled to {cfg.sample_rate} Hz "
                      "by ffmpeg", "resampled", False))
    if audio.padded:
        notes.append((pad_note(audio, cfg.samples), "padded", False))
    return AudioInputs(audio, clip.fingerprint, notes)


def spectral_compute(inputs: AudioInputs, cfg: tuple[str, dict[str, Any], AudioSettings]
                     ) -> tuple[Output, list[Note]]:
    """LMS ``(88, 24)`` or MFCC ``(88, 39)`` float32 and the mask of frames in real audio."""
    name, settings, audio = cfg
    clip = inputs.audio
    data = spectral_feature(name, clip.mono, audio.sample_rate, settings)
    centres = spectral_centres(data.shape[0], settings)
    return Output(data, valid_frames(centres, clip.pad_before, clip.pad_after, audio.samples)), []


def audio_settings(params: dict[str, Any]) -> AudioSettings:
    return AudioSettings(int(get(params, "features.audio.samples")),
                         int(get(params, "features.audio.sample_rate")))


def audio_source(params: dict[str, Any]) -> Source:
    return Source(load_audio, lambda c: c.media, (AudioError,), audio_settings(params))


def spectral_features(params: dict[str, Any], names: list[str]) -> list[Feature]:
    audio, out = audio_settings(params), []
    for name in names:
        settings = dict(get(params, f"features.{name}"))
        file_params = {"features": {name: settings, "audio": dict(get(params, "features.audio"))}}
        out.append(Feature(name, spectral_compute, (name, settings, audio), file_params))
    return out
