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


def parse_actor(text: str | int) -> int:
    """An actor as the command line or params.yaml writes it (``05``, ``5``, ``Actor_05``) -> 5.

    Code holds actors as ``int`` 1..24; :func:`actor_dir` formats them back for paths.
    """
    s = str(text).strip()
    s = s.removeprefix("Actor_")
    if not s.isdigit() or not 1 <= int(s) <= 24:
        raise ValueError(f"not an actor number 01..24: {text!r}")
    return int(s)


def actor_dir(actor: int) -> str:
    """``Actor_05`` for 5 (the folder and file name of an actor)."""
    return f"Actor_{int(actor):02d}"


def openface_csv(video_id: str, actor: int, root: Path = OPENFACE_DIR) -> Path:
    return root / actor_dir(actor) / f"{video_id}.csv"


def openface_actor_dir(actor: int, root: Path = OPENFACE_DIR) -> Path:
    return root / actor_dir(actor)


def feature_file(feature: str, actor: int, root: Path = FEATURES_DIR) -> Path:
    """``data/features/<feature>/Actor_XX.h5``."""
    return root / feature / f"{actor_dir(actor)}.h5"


def problems_csv(stage: str, root: Path = PROBLEMS_DIR) -> Path:
    return root / f"{stage}.csv"
