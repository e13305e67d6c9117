"""Outputs of the predict stage: per-recording CSV, summary table, timeline picture.

All files are written atomically (:func:`features.core.atomic.atomic_path`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.core.atomic import atomic_path

FLOAT_FORMAT = "%.8f"   # posteriors to 1e-8: finer than the 1e-5 reproduction check


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """``df`` as CSV at ``path`` (atomic), posteriors with :data:`FLOAT_FORMAT`."""
    df = df.copy()
    for c in ("start_s", "end_s", "duration_s"):
        if c in df:
            df[c] = df[c].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    with atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False, float_format=FLOAT_FORMAT)
    return Path(path)


def summary_row(name: str, source: str, rows: pd.DataFrame, duration_s: float) -> dict:
    """One summary line of a scored recording (its ``clip`` row plus counts)."""
    clip = rows[rows["kind"] == "clip"].iloc[0]
    probs = {c: float(clip[c]) for c in rows.columns if c.startswith("p_")}
    return {"recording": name, "file": source, "status": "scored",
            "duration_s": round(duration_s, 3), "windows": int((rows["kind"] == "window").sum()),
            "padded": bool(clip["padded"]), **probs, "top": clip["top"],
            "neutral": clip["neutral"], "problem": ""}


def failed_row(name: str, source: str, problem: str) -> dict:
    """Summary line of a recording that could not be scored."""
    return {"recording": name, "file": source, "status": "failed", "problem": problem}


def plot_timeline(rows: pd.DataFrame, path: Path, title: str) -> Path:
    """Probability of each class over time (window centres), the clip's top class in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    win = rows[rows["kind"] == "window"]
    classes = [c for c in rows.columns if c.startswith("p_")]
    t = (win["start_s"].to_numpy() + win["end_s"].to_numpy()) / 2
    clip = rows[rows["kind"] == "clip"].iloc[0]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    cmap = plt.get_cmap("tab10")
    for i, c in enumerate(classes):
        y = win[c].to_numpy()
        style = dict(marker="o", markersize=4) if len(t) < 3 else {}
        ax.plot(t, y, label=c.removeprefix("p_"), color=cmap(i), linewidth=2 if
                c == f"p_{clip['top']}" else 1.2, **style)
    ax.set_xlabel("time (s, window centre)")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    if len(t):
        ax.set_xlim(max(0.0, float(win["start_s"].min())), float(win["end_s"].max()))
    flag = " (padded: shorter than one window)" if bool(win["padded"].any()) else ""
    ax.set_title(f"{title}: {clip['top']} ({float(clip['p_' + clip['top']]):.2f}){flag}",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def top_class(probs: np.ndarray, names: list[str]) -> str:
    """Name of the most probable class of ``probs (C,)``."""
    return names[int(np.argmax(probs))]
