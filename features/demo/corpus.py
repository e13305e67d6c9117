"""The built-in demo corpus: RAVDESS-named audio-visual clips of an animated real face.

Layout (like the RAVDESS speech audio-video release): ``<out>/Actor_XX/01-01-EE-II-SS-RR-XX.mp4``
(H.264 yuv420p at ``fps``, AAC 48 kHz stereo, 3.0-3.6 s, at least 88 frames) and the ground truth
``<truth>/Actor_XX/<video id>.npy``: the 68 landmarks per frame, ``(frames, 68, 2)`` float32 px.

Sizes (``demo.size``; RAVDESS has 60 clips per actor):

* ``tiny`` (tests): actors 01-04, per actor the two repetition-1 neutral clips (statements 01, 02)
  plus happy (01, normal), sad (01, normal), angry (02, strong), surprised (02, normal): 6 clips.
* ``default``: 24 actors x 16 clips: 8 emotions x 2 statements, repetition 01; neutral is normal
  (RAVDESS has no strong neutral), every other emotion has one normal and one strong clip per
  actor (which statement is strong alternates with actor and emotion), so both intensities and
  both statements are balanced over the corpus.
* ``full``: all 60 clips per actor, as RAVDESS.

Determinism: everything is drawn from NumPy generators seeded with ``(seed, actor, ...)``: the
actor's face and voice from ``(seed, actor)``, each clip from ``(seed, actor, emotion, intensity,
statement, repetition)``. Results do not depend on ``jobs`` or on which clips are generated
together, and the encoder is single-threaded and bit-exact, so the same seed gives the same files.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from features.core.atomic import atomic_path
from features.core.parallel import map_progress
from features.core.paths import actor_dir
from features.demo import face as face_mod
from features.demo import voice as voice_mod
from features.demo.encode import write_mp4
from features.demo.style import Difficulty, actor_mix, clip_mix

SIZES = ("tiny", "default", "full")
ALL_ACTORS = tuple(range(1, 25))
TINY_ACTORS = (1, 2, 3, 4)
# tiny: (emotion, intensity, statement) besides the two neutral clips.
TINY_EXTRA = ((3, 1, 1), (4, 1, 1), (5, 2, 2), (8, 1, 2))
MIN_FRAMES = 88
CLIP_SECONDS = (3.0, 3.6)


@dataclasses.dataclass(frozen=True, order=True)
class ClipSpec:
    """One clip to generate (modality 01 audio-video, vocal channel 01 speech)."""

    actor: int
    emotion: int
    intensity: int
    statement: int
    repetition: int

    @property
    def video_id(self) -> str:
        return (f"01-01-{self.emotion:02d}-{self.intensity:02d}-{self.statement:02d}-"
                f"{self.repetition:02d}-{self.actor:02d}")


def clip_specs(size: str = "default", actors: Sequence[int] | None = None) -> list[ClipSpec]:
    """The clips of a corpus size, sorted by actor then video id (see the module docstring)."""
    if size not in SIZES:
        raise ValueError(f"demo.size must be one of {SIZES}, got {size!r}")
    if actors is None:
        actors = TINY_ACTORS if size == "tiny" else ALL_ACTORS
    actors = sorted({int(a) for a in actors})
    bad = [a for a in actors if not 1 <= a <= 24]
    if bad:
        raise ValueError(f"demo actors must be 1..24, got {bad}")
    specs: list[ClipSpec] = []
    for a in actors:
        if size == "tiny":
            specs += [ClipSpec(a, 1, 1, s, 1) for s in (1, 2)]
            specs += [ClipSpec(a, e, i, s, 1) for e, i, s in TINY_EXTRA]
        elif size == "default":
            for e in range(1, 9):
                for s in (1, 2):
                    specs.append(ClipSpec(a, e, 1 if e == 1 else 1 + (a + e + s) % 2, s, 1))
        else:
            for e in range(1, 9):
                for i in ((1,) if e == 1 else (1, 2)):
                    for s in (1, 2):
                        for r in (1, 2):
                            specs.append(ClipSpec(a, e, i, s, r))
    return sorted(specs, key=lambda c: (c.actor, c.video_id))


def clip_rng(seed: int, spec: ClipSpec) -> np.random.Generator:
    """The clip's own random generator, from (seed, actor, emotion, intensity, statement, rep)."""
    return np.random.default_rng([int(seed), spec.actor, spec.emotion, spec.intensity,
                                  spec.statement, spec.repetition, 3])


def clip_frames(spec: ClipSpec, voice: voice_mod.Voice, fps: float,
                rng: np.random.Generator, prosody: voice_mod.Prosody | None = None) -> int:
    """Frame count: a random length in 3.0-3.6 s, long enough for the utterance, >= 88 frames."""
    need = voice_mod.utterance_seconds(spec.statement, spec.emotion, spec.intensity, voice,
                                       prosody) + 0.7
    seconds = max(rng.uniform(*CLIP_SECONDS), min(need, CLIP_SECONDS[1]))
    return max(MIN_FRAMES, int(round(seconds * fps)))


def render_clip(spec: ClipSpec, corpus_dir: Path, truth_dir: Path | None, seed: int = 7,
                width: int = 640, height: int = 360, fps: float = 30,
                difficulty: Difficulty | None = None) -> Path:
    """Synthesise, animate, render and encode one clip; write its truth landmarks. Returns the mp4.

    ``difficulty`` (None = the calibrated default, see ``features/demo/style.py``) sets how the
    actor expresses the clip's emotion and the nuisance. Both files are written under temporary
    names and renamed, so a crash leaves no partial clip.
    """
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)              # clips run in parallel already; no nested thread pools
    try:
        return _render_clip(spec, Path(corpus_dir), None if truth_dir is None else Path(truth_dir),
                            int(seed), int(width), int(height), float(fps),
                            difficulty if difficulty is not None else Difficulty())
    finally:
        cv2.setNumThreads(threads)


def pose_habit(seed: int, spec: ClipSpec, d: Difficulty) -> tuple[float, float]:
    """The actor's own head pose for the emotion: (dy face heights, scale - 1), N(0, pose_spread)."""
    rng = np.random.default_rng([int(seed), spec.actor, spec.emotion, 13])
    return float(rng.normal(0, d.pose_spread)), float(rng.normal(0, d.pose_spread))


@dataclasses.dataclass
class ClipContent:
    """Everything one clip shows before rendering: the (lit) actor, speech, motion, flicker."""

    face: face_mod.ActorFace
    speech: voice_mod.Speech
    motion: face_mod.Motion
    light: np.ndarray            # (frames,) brightness factor per frame


def clip_content(spec: ClipSpec, seed: int, width: int, height: int, fps: float,
                 d: Difficulty) -> ClipContent:
    """The clip's speech, landmark motion and lighting (drawn from the clip's generator)."""
    rng = clip_rng(seed, spec)
    voice = voice_mod.actor_voice(seed, spec.actor)
    face = face_mod.cached_actor(seed, spec.actor, width, height)
    face_w = clip_mix(actor_mix(seed, spec.actor, spec.emotion, "face", d), spec.intensity,
                      face_mod.STRONG_FACTOR, d, rng)
    voice_w = clip_mix(actor_mix(seed, spec.actor, spec.emotion, "voice", d), spec.intensity,
                       voice_mod.STRONG, d, rng)
    prosody = voice_mod.prosody_mix(voice_w)
    n = clip_frames(spec, voice, fps, rng, prosody)
    speech = voice_mod.synthesize(spec.statement, spec.emotion, spec.intensity, voice, n, fps, rng,
                                  prosody=prosody, nuisance=voice_mod.Nuisance(
                                      d.pitch_jitter, d.rate_jitter, d.loudness_jitter))
    motion = face_mod.animate(face, spec.emotion, spec.intensity, speech.mouth_open,
                              speech.mouth_round, fps, rng, mix=face_w, head_motion=d.head_motion,
                              pose_offset=pose_habit(seed, spec, d))
    face = face_mod.lit(face, rng, d.lighting)
    return ClipContent(face, speech, motion, face_mod.flicker(rng, n, fps, d.lighting))


def _render_clip(spec: ClipSpec, corpus_dir: Path, truth_dir: Path | None, seed: int, width: int,
                 height: int, fps: float, d: Difficulty) -> Path:
    c = clip_content(spec, seed, width, height, fps, d)
    face, speech, motion, light = c.face, c.speech, c.motion, c.light
    n = len(light)
    truth = np.empty((n, 68, 2), np.float32)

    def frames():
        for i in range(n):
            frame, truth[i] = face_mod.render(face, motion.offsets[i], motion.head[i])
            yield face_mod.apply_gain(frame, float(light[i]))

    path = corpus_dir / actor_dir(spec.actor) / f"{spec.video_id}.mp4"
    write_mp4(path, frames(), fps, speech.audio, speech.sample_rate)
    if truth_dir is not None:
        out = truth_dir / actor_dir(spec.actor) / f"{spec.video_id}.npy"
        with atomic_path(out, suffix=".npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, truth)
    return path


def generate_corpus(out_dir: str | Path, truth_dir: str | Path | None = None, size: str = "default",
                    seed: int = 7, width: int = 640, height: int = 360, fps: float = 30,
                    jobs: int = 2, actors: Sequence[int] | None = None,
                    difficulty: Difficulty | None = None) -> list[Path]:
    """Generate the demo corpus into ``out_dir`` (and truth into ``truth_dir``); return the mp4s.

    ``truth_dir=None`` puts the truth beside the corpus, in ``out_dir/../truth`` (the pipeline
    layout ``data/demo/{corpus,truth}``). ``actors`` restricts the actors (default: 01-04 for
    ``tiny``, 01-24 otherwise). ``width``/``height`` must be even (H.264 yuv420p), e.g. 640x360
    or 1280x720 (RAVDESS). Clips are rendered in parallel with ``jobs`` workers. ``difficulty``:
    see ``features/demo/style.py`` (None = the calibrated default).
    """
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"demo width/height must be positive and even, got {width}x{height}")
    if fps <= 0:
        raise ValueError(f"demo fps must be positive, got {fps}")
    out_dir = Path(out_dir)
    truth = Path(truth_dir) if truth_dir is not None else out_dir.parent / "truth"
    specs = clip_specs(size, actors)
    fn = functools.partial(render_clip, corpus_dir=out_dir, truth_dir=truth, seed=int(seed),
                           width=int(width), height=int(height), fps=fps, difficulty=difficulty)
    return map_progress(fn, specs, jobs=int(jobs), desc=f"demo {size}")
