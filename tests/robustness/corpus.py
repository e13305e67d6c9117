"""The broken corpus of the robustness suite: one actor folder with every kind of bad file.

Each entry of :data:`CASES` is a file under ``corpus/`` and the outcome the pipeline documents for
it; :func:`build_corpus` writes the real files (small face clips with sound, then broken copies).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.robustness.media import face_clip, moov_first, truncate

# video ids of actor 01 (statement 1, repetition 1 unless said otherwise)
NEUTRAL = "01-01-01-01-01-01-01"    # neutral reference clip, stereo
SHORT = "01-01-02-01-01-01-01"      # 84 frames: >= dataset.min_frames 80 but < frames.count 88
TOO_SHORT = "01-01-02-02-01-01-01"  # 60 frames < dataset.min_frames 80
MONO = "01-01-03-01-01-01-01"       # one audio channel
CUT_FAST = "01-01-04-01-01-01-01"   # moov atom first, cut at 70 %: header claims 150 frames
NO_FACE = "01-01-05-01-01-01-01"    # background only
CUT_PLAIN = "01-01-06-01-01-01-01"  # moov atom last (plain ffmpeg write), cut at 40 %
EMPTY = "01-01-07-01-01-01-01"      # zero bytes
NO_AUDIO = "01-01-08-01-01-01-01"   # video stream only
MISLABELLED = "01-01-03-02-01-01-02"  # name says actor 02, file sits in Actor_01

KEPT = [NEUTRAL, SHORT, MONO, CUT_FAST, NO_FACE]   # the clips that reach the manifest
MIN_FRAMES = 80
CUT_FAST_HEADER_FRAMES = 150


def build_corpus(root: Path) -> Path:
    """Write ``root/Actor_01`` (good and broken clips) and ``root/Actor_01 copy`` (a duplicated
    actor folder: a copy of the whole of Actor_01). Returns ``root``."""
    a1 = root / "Actor_01"
    face_clip(a1 / f"{NEUTRAL}.mp4", n_frames=96, seed=0)
    face_clip(a1 / f"{SHORT}.mp4", n_frames=84, seed=1)
    face_clip(a1 / f"{TOO_SHORT}.mp4", n_frames=60, seed=2)
    face_clip(a1 / f"{MONO}.mp4", n_frames=96, channels=1, seed=3)
    cut = face_clip(a1 / f"{CUT_FAST}.mp4", n_frames=CUT_FAST_HEADER_FRAMES, seed=4, faststart=True)
    assert moov_first(cut)
    truncate(cut, 0.7)
    face_clip(a1 / f"{NO_FACE}.mp4", n_frames=96, face=False, seed=5)
    plain = face_clip(a1 / f"{CUT_PLAIN}.mp4", n_frames=96, seed=6)
    assert not moov_first(plain)
    truncate(plain, 0.4)
    (a1 / f"{EMPTY}.mp4").write_bytes(b"")
    face_clip(a1 / f"{NO_AUDIO}.mp4", n_frames=96, channels=None, seed=7)
    shutil.copy(a1 / f"{NEUTRAL}.mp4", a1 / f"{MISLABELLED}.mp4")
    shutil.copytree(a1, root / "Actor_01 copy")
    return root
