"""How hard the demo corpus is: per-actor emotion styles, confusable pairs, modality clarity, nuisance.

Without these the demo's emotions are one fixed recipe per emotion (face action units, prosody)
and every feature scores close to 100 %. RAVDESS is harder (Houmard: LMS 65.6 %, face KPD
67.1 %, AU 58.6 %, head pose 33.9 %; humans 62 % audio, 72 % video, 80 % both) because actors
express each emotion differently and some emotions look or sound alike. :class:`Difficulty`
models that, with documented defaults (``demo.difficulty`` in params.yaml):

* **Emotion mixture.** Each (actor, emotion, modality) gets a mixture ``w`` over the eight
  emotions' deviations from neutral (index = RAVDESS emotion code 1..8): the face and the voice
  of a clip are ``neutral + sum_e w[e] * (recipe_e - neutral)``. The own emotion gets
  ``g * (1 - m)``, its confusable partner (:data:`PARTNER`: calm-neutral, fearful-surprised,
  disgust-angry) ``g * m`` with ``m ~ U(0, confusion)``, and one random other emotion
  ``g * U(0, leak)`` (not for neutral). ``g = clarity[emotion] * exp(N(0, actor_spread))``: how
  strongly this actor shows it (neutral: calm's clarity, for the calm it borrows). Face and voice
  are drawn independently, so an actor whose fear looks like surprise
  may still sound afraid (what makes fusion help).
* **Modality clarity** (:data:`FACE_CLARITY`, :data:`VOICE_CLARITY`): the thesis finds anger
  and surprise clearer in the voice, happiness in the mouth and sadness in the eyes.
* **Intensity.** Intensity 01 scales the mixture by ``normal_intensity``, intensity 02 by the
  modality's strong factor (face ``STRONG_FACTOR`` 1.45, voice ``STRONG`` 1.5); each clip
  multiplies it by ``exp(N(0, clip_spread))``.
* **Nuisance**: random head motion x ``head_motion``, per-actor emotion head poses
  (``pose_spread``), lighting (``lighting``: per-clip exposure and side light, slow flicker),
  speaking rate (``rate_jitter``), pitch (``pitch_jitter`` semitones) and loudness
  (``loudness_jitter`` dB) per clip.

The defaults were calibrated on the default demo run (24 actors x 16 clips, 5 folds) so that
single features score below 90 % and above chance, in the papers' order (docs/results.md "Demo
results"). :meth:`Difficulty.clean` gives the unmixed recipes (clear cues, for tests).
Deterministic: the mixtures come from ``(seed, actor, emotion, modality)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
# Confusable partner of each emotion (RAVDESS codes); happy and sad have none.
PARTNER = {1: 2, 2: 1, 5: 7, 7: 5, 6: 8, 8: 6}
# How clearly each emotion shows in the face / voice (gain of its mixture weight).
FACE_CLARITY = {"neutral": 1.0, "calm": 0.6, "happy": 1.2, "sad": 1.0, "angry": 0.6,
                "fearful": 0.8, "disgust": 0.9, "surprised": 0.6}
VOICE_CLARITY = {"neutral": 1.3, "calm": 0.8, "happy": 0.8, "sad": 1.2, "angry": 1.5,
                 "fearful": 1.0, "disgust": 0.8, "surprised": 1.4}
MAX_TOTAL = 2.2         # cap on sum(|w|): stronger mixtures would fold the face mesh
GAIN_RANGE = (0.2, 2.0)  # clip of the per-actor gain factor exp(N(0, actor_spread))


@dataclasses.dataclass(frozen=True)
class Difficulty:
    """Knobs of the demo's difficulty (see the module docstring); defaults = calibrated."""

    actor_spread: float = 0.4        # sd of log per-actor, per-emotion, per-modality gain
    confusion: float = 0.6           # max share borrowed from the confusable partner
    leak: float = 0.3                # max share borrowed from one random other emotion
    clip_spread: float = 0.15        # sd of the log per-clip gain
    normal_intensity: float = 1.0    # mixture scale of intensity 01 (02: strong factor)
    head_motion: float = 2.0         # random head-motion amplitude factor (1 = gentle)
    pose_spread: float = 0.015       # sd of per-actor emotion head pose (face heights, scale)
    lighting: float = 0.2            # exposure / side-light / flicker amplitude (0 = none)
    rate_jitter: float = 0.04        # sd of the log per-clip speaking-rate factor
    pitch_jitter: float = 0.7        # sd of the per-clip pitch level (semitones)
    loudness_jitter: float = 1.0     # sd of the per-clip loudness (dB)
    face_clarity: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(FACE_CLARITY))
    voice_clarity: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(VOICE_CLARITY))

    @classmethod
    def clean(cls) -> Difficulty:
        """One clear recipe per emotion, gentle nuisance (the corpus before calibration)."""
        ones = {e: 1.0 for e in EMOTIONS}
        return cls(actor_spread=0.0, confusion=0.0, leak=0.0, clip_spread=0.087,
                   normal_intensity=1.0, head_motion=1.0, pose_spread=0.0, lighting=0.0,
                   rate_jitter=0.023, pitch_jitter=0.6, loudness_jitter=0.8,
                   face_clarity=dict(ones), voice_clarity=dict(ones))

    @classmethod
    def from_params(cls, section: Mapping[str, Any] | None) -> Difficulty:
        """From params.yaml ``demo.difficulty`` (missing keys keep their default; unknown: error)."""
        section = dict(section or {})
        if section.pop("preset", "calibrated") == "clean":
            base = cls.clean()
        else:
            base = cls()
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(section) - fields)
        if unknown:
            raise ValueError(f"params.yaml: unknown demo.difficulty keys {unknown} "
                             f"(known: preset, {', '.join(sorted(fields))})")
        for key in ("face_clarity", "voice_clarity"):
            if key in section:
                bad = sorted(set(section[key]) - set(EMOTIONS))
                if bad:
                    raise ValueError(f"params.yaml: demo.difficulty.{key}: unknown emotions {bad}")
                section[key] = {**getattr(base, key), **{k: float(v) for k, v in section[key].items()}}
        for key, v in section.items():
            if key not in ("face_clarity", "voice_clarity"):
                section[key] = float(v)
                if section[key] < 0:
                    raise ValueError(f"params.yaml: demo.difficulty.{key} must be >= 0, got {v}")
        return dataclasses.replace(base, **section)


def actor_mix(seed: int, actor: int, emotion: int, modality: str, d: Difficulty) -> np.ndarray:
    """(9,) weights of the emotions' deviations (index = emotion code; 0 unused) for one actor.

    ``modality`` is ``face`` or ``voice``. Drawn from ``(seed, actor, emotion, modality)``.
    """
    if not 1 <= emotion <= 8:
        raise ValueError(f"emotion code must be 1..8, got {emotion}")
    rng = np.random.default_rng([int(seed), int(actor), int(emotion), 11 if modality == "face" else 12])
    clarity = d.face_clarity if modality == "face" else d.voice_clarity
    # Neutral has no deviation of its own: its gain is that of the calm it borrows from.
    shown = EMOTIONS[(PARTNER[emotion] if emotion == 1 else emotion) - 1]
    gain = clarity[shown] * float(np.clip(np.exp(rng.normal(0, d.actor_spread)), *GAIN_RANGE))
    w = np.zeros(9)
    m = rng.uniform(0, d.confusion) if emotion in PARTNER else 0.0
    w[emotion] += gain * (1 - m)
    if emotion in PARTNER:
        w[PARTNER[emotion]] += gain * m
    others = [e for e in range(2, 9) if e != emotion and e != PARTNER.get(emotion)]
    leak = rng.uniform(0, d.leak)
    if emotion != 1:                 # a neutral face/voice borrows from calm only
        w[others[int(rng.integers(len(others)))]] += gain * leak
    w[1] = 0.0                       # neutral has no deviation from neutral
    return w


def clip_mix(base: np.ndarray, intensity: int, strong: float, d: Difficulty,
             rng: np.random.Generator) -> np.ndarray:
    """Scale an actor mixture for the clip: intensity factor and per-clip gain, capped."""
    w = base * (strong if intensity == 2 else d.normal_intensity) * np.exp(rng.normal(0, d.clip_spread))
    total = np.abs(w).sum()
    return w * (MAX_TOTAL / total) if total > MAX_TOTAL else w


def mix_table(table: Mapping[int, float], w: np.ndarray, default: float | None = None) -> float:
    """``table[neutral] + sum_e w[e] * (table[e] - table[neutral])`` for a per-emotion table."""
    n = table.get(1, default)
    return float(n + sum(w[e] * (table.get(e, default) - n) for e in range(2, 9) if w[e]))
