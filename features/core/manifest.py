"""The clip manifest written by the ingest stage and read by every later stage.

``data/manifest.parquet`` holds every usable clip; ``data/manifest_by_actor/Actor_XX.parquet``
holds the same rows split by actor (per-actor stages depend on their actor's slice only).

Columns: video_id, path (media file), modality, modality_name, vocal_channel,
vocal_channel_name, emotion (1..8), emotion_name, label (0..7 = emotion - 1), intensity,
intensity_name, statement, repetition, actor (1..24), actor_dir (``Actor_05``), gender, fold
(0..4, the paper's test fold), frames (decodable frames; 0 for audio files), fps, width, height,
duration_s, audio_rate, audio_channels, fingerprint (sha256 of the file bytes), neutral_ref (id of
the actor's first-repetition neutral clip with the same statement, "" if the corpus lacks it).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.core.paths import DATA, MANIFEST, actor_dir

MANIFEST_BY_ACTOR = DATA / "manifest_by_actor"

COLUMNS = [
    "video_id", "path", "modality", "modality_name", "vocal_channel", "vocal_channel_name",
    "emotion", "emotion_name", "label", "intensity", "intensity_name", "statement", "repetition",
    "actor", "actor_dir", "gender", "fold", "frames", "fps", "width", "height", "duration_s",
    "audio_rate", "audio_channels", "fingerprint", "neutral_ref",
]


def actor_manifest_path(actor: int, root: Path = MANIFEST_BY_ACTOR) -> Path:
    return Path(root) / f"{actor_dir(actor)}.parquet"


def read_manifest(actor: int | None = None, path: Path | None = None) -> pd.DataFrame:
    """All clips (or one actor's), sorted by video id; a clear error if ingest has not run."""
    p = Path(path) if path is not None else (MANIFEST if actor is None else actor_manifest_path(actor))
    if not p.exists():
        raise FileNotFoundError(f"{p}: manifest not found; run `dvc repro ingest` first")
    return pd.read_parquet(p).sort_values("video_id").reset_index(drop=True)
