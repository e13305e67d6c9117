"""Every path the pipeline reads or writes, in one place (relative to the repository root)."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
DEMO_DIR = DATA / "demo"
DEMO_CORPUS = DEMO_DIR / "corpus"          # Actor_XX/01-01-EE-II-SS-RR-XX.mp4
DEMO_TRUTH = DEMO_DIR / "truth"            # Actor_XX/<video id>.npy, (frames, 68, 2) px
MANIFEST = DATA / "manifest.parquet"
OPENFACE_DIR = DATA / "openface"           # Actor_XX/<video id>.csv
FEATURES_DIR = DATA / "features"           # <feature>/Actor_XX.h5
MODELS_DIR = DATA / "models"               # fold_K/model.pt
PREDICTIONS_DIR = DATA / "predictions"     # fold_K.parquet

REPORTS = Path("reports")
PROBLEMS_DIR = REPORTS / "problems"        # <stage>.csv
METRICS = REPORTS / "metrics.json"
PLOTS_DIR = REPORTS / "plots"


def actor_dir(actor: int | str) -> str:
    """``Actor_05`` for 5 or '05'."""
    return f"Actor_{int(actor):02d}"


def openface_csv(video_id: str, actor: int | str, root: Path = OPENFACE_DIR) -> Path:
    return root / actor_dir(actor) / f"{video_id}.csv"


def openface_actor_dir(actor: int | str, root: Path = OPENFACE_DIR) -> Path:
    return root / actor_dir(actor)


def feature_file(feature: str, actor: int | str, root: Path = FEATURES_DIR) -> Path:
    """``data/features/<feature>/Actor_XX.h5``."""
    return root / feature / f"{actor_dir(actor)}.h5"


def problems_csv(stage: str, root: Path = PROBLEMS_DIR) -> Path:
    return root / f"{stage}.csv"
