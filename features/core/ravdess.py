"""RAVDESS naming scheme, labels and the paper's actor-independent folds.

File name ``MM-VV-EE-II-SS-RR-AA.ext``: modality (01 audio-video, 02 video-only, 03 audio-only),
vocal channel (01 speech, 02 song), emotion (01..08), intensity (01 normal, 02 strong),
statement (01, 02), repetition (01, 02), actor (01..24; odd male, even female).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

EMOTIONS: dict[int, str] = {
    1: "neutral", 2: "calm", 3: "happy", 4: "sad",
    5: "angry", 6: "fearful", 7: "disgust", 8: "surprised",
}
EMOTION_NAMES: list[str] = [EMOTIONS[k] for k in sorted(EMOTIONS)]
MODALITIES = {1: "audio-video", 2: "video-only", 3: "audio-only"}
VOCAL_CHANNELS = {1: "speech", 2: "song"}
INTENSITIES = {1: "normal", 2: "strong"}
STATEMENTS = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}

# The five test folds of Houmard et al. / Luna-Jimenez et al. (also in params.yaml).
PAPER_FOLDS: list[list[int]] = [
    [2, 5, 14, 15, 16], [3, 6, 7, 13, 18], [10, 11, 12, 19, 20], [8, 17, 21, 23, 24], [1, 4, 9, 22],
]

_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")


class NameError_(ValueError):
    """A file name that is not a valid RAVDESS name (message says which field)."""


@dataclasses.dataclass(frozen=True)
class ClipName:
    video_id: str
    modality: int
    vocal_channel: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def emotion_name(self) -> str:
        return EMOTIONS[self.emotion]

    @property
    def gender(self) -> str:
        return "male" if self.actor % 2 == 1 else "female"

    def as_row(self) -> dict:
        return {
            "video_id": self.video_id, "modality": self.modality,
            "modality_name": MODALITIES[self.modality], "vocal_channel": self.vocal_channel,
            "vocal_channel_name": VOCAL_CHANNELS[self.vocal_channel], "emotion": self.emotion,
            "emotion_name": self.emotion_name, "intensity": self.intensity,
            "intensity_name": INTENSITIES[self.intensity], "statement": self.statement,
            "repetition": self.repetition, "actor": self.actor, "gender": self.gender,
        }


def parse_name(name: str | Path) -> ClipName:
    """Parse a RAVDESS file name (with or without folder/extension); raise NameError_ naming the field."""
    stem = Path(name).name.split(".")[0]
    m = _NAME.match(stem)
    if not m:
        raise NameError_(f"{name}: not a RAVDESS name (expected MM-VV-EE-II-SS-RR-AA)")
    mm, vv, ee, ii, ss, rr, aa = (int(g) for g in m.groups())
    checks = [
        ("modality", mm, MODALITIES), ("vocal channel", vv, VOCAL_CHANNELS),
        ("emotion", ee, EMOTIONS), ("intensity", ii, INTENSITIES),
        ("statement", ss, STATEMENTS), ("repetition", rr, {1: 1, 2: 2}),
        ("actor", aa, {a: a for a in range(1, 25)}),
    ]
    for field, value, allowed in checks:
        if value not in allowed:
            raise NameError_(f"{name}: unknown {field} code {value:02d}")
    if ee == 1 and ii == 2:
        raise NameError_(f"{name}: neutral has no strong intensity (code 01-02)")
    return ClipName(stem, mm, vv, ee, ii, ss, rr, aa)


def fold_of_actor(actor: int, folds: list[list[int]] = PAPER_FOLDS) -> int:
    """Index of the test fold holding ``actor``; ValueError if no fold or several folds do."""
    hits = [k for k, fold in enumerate(folds) if actor in fold]
    if len(hits) != 1:
        raise ValueError(f"actor {actor} is in {len(hits)} folds of {folds} (expected exactly 1)")
    return hits[0]


def validate_folds(folds: list[list[int]]) -> None:
    """Each actor 1..24 in exactly one fold."""
    seen = sorted(a for fold in folds for a in fold)
    if seen != list(range(1, 25)):
        raise ValueError(f"dataset.folds must partition actors 1..24; got {folds}")


def neutral_reference_id(clip: ClipName) -> str:
    """Id of the actor's first-repetition neutral clip with the same statement (KPD normalisation)."""
    return f"{clip.modality:02d}-{clip.vocal_channel:02d}-01-01-{clip.statement:02d}-01-{clip.actor:02d}"
