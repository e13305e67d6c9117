"""Report content: the paper's numbers for comparison, plots and the comparison table.

Paper numbers (SPEC.md; Houmard thesis Tables 6.1-6.3; Luna-Jiménez et al. 2022):

* multi-class 5-fold accuracy per feature combination (Table 6.2, video x audio);
* binary macro-F1 per emotion for unimodal TIM-Net (Table 6.1; the binary audio runs used
  Wav2Vec2-Base);
* human raters 62 % (audio only), 72 % (video only), 80 % (audio-video);
* Luna-Jiménez et al. on the same folds: fine-tuned xlsr-Wav2Vec2 81.82 %, AU bi-LSTM 62.13 %,
  late fusion 86.70 %.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

AUDIO = {"lms", "mfcc", "wav2vec2"}

# video part -> {audio part -> accuracy %}; "" = none.  (Table 6.2)
_TABLE_6_2: dict[tuple[str, ...], dict[str, float]] = {
    (): {"lms": 65.6, "wav2vec2": 81.63},
    ("resnet_eyes",): {"": 53.18, "lms": 53.18, "wav2vec2": 82.48},
    ("kpd_eyes",): {"": 52.35, "lms": 70.30, "wav2vec2": 81.42},
    ("resnet_mouth",): {"": 61.58, "lms": 59.97, "wav2vec2": 82.04},
    ("resnet_eyes", "resnet_mouth"): {"": 63.48, "lms": 60.98, "wav2vec2": 83.51},
    ("resnet_face",): {"": 71.20, "lms": 69.58, "wav2vec2": 83.57},
    ("kpd_face",): {"": 67.13, "lms": 76.82, "wav2vec2": 81.63},
    ("au",): {"": 58.63, "lms": 70.93, "wav2vec2": 81.65},
    ("pose",): {"": 33.85},
}
EMOTION_ORDER = ["angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised"]
# Table 6.1: binary macro-F1, columns in EMOTION_ORDER.
_TABLE_6_1: dict[str, list[float]] = {
    "lms": [0.83, 0.83, 0.85, 0.76, 0.79, 0.70, 0.68, 0.81],
    "wav2vec2": [0.91, 0.88, 0.93, 0.87, 0.85, 0.82, 0.75, 0.88],   # Wav2Vec2-Base
    "resnet_face": [0.81, 0.82, 0.84, 0.76, 0.90, 0.75, 0.75, 0.70],
    "kpd_face": [0.78, 0.82, 0.85, 0.73, 0.89, 0.79, 0.76, 0.67],
    "au": [0.77, 0.78, 0.79, 0.67, 0.87, 0.63, 0.62, 0.63],
    "resnet_eyes": [0.68, 0.72, 0.77, 0.75, 0.75, 0.68, 0.69, 0.65],
    "kpd_eyes": [0.69, 0.69, 0.69, 0.73, 0.73, 0.73, 0.69, 0.59],
    "resnet_mouth": [0.80, 0.77, 0.80, 0.67, 0.88, 0.77, 0.63, 0.68],
    "pose": [0.65, 0.65, 0.56, 0.54, 0.55, 0.55, 0.53, 0.53],
}
HUMAN = {"audio only": 62.0, "video only": 72.0, "audio-video": 80.0}
LUNA_JIMENEZ = {"fine-tuned xlsr-Wav2Vec2 (audio)": 81.82, "AU bi-LSTM (video)": 62.13,
                "late fusion of both (logistic regression)": 86.70}


def modality_kind(modalities: list[str]) -> str:
    """'audio only', 'video only' or 'audio-video' (human-rater condition of the same input)."""
    audio = any(m in AUDIO for m in modalities)
    video = any(m not in AUDIO for m in modalities)
    return "audio-video" if audio and video else ("audio only" if audio else "video only")


def paper_accuracy(modalities: list[str]) -> float | None:
    """Houmard et al.'s 5-fold accuracy (%) for the same feature combination, if reported."""
    audio = [m for m in modalities if m in AUDIO]
    video = tuple(sorted(m for m in modalities if m not in AUDIO))
    if len(audio) > 1:
        return None
    return _TABLE_6_2.get(video, {}).get(audio[0] if audio else "")


def paper_binary_f1(modalities: list[str], target: str) -> float | None:
    """Houmard's binary macro-F1 for a single feature and emotion (Table 6.1), if reported."""
    if len(modalities) != 1 or modalities[0] not in _TABLE_6_1:
        return None
    return _TABLE_6_1[modalities[0]][EMOTION_ORDER.index(target)]


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f}"


def comparison_markdown(summary: dict[str, Any], modalities: list[str], task: str,
                        target: str | None, dataset_root: str, notes: list[str]) -> str:
    """reports/comparison.md: this run beside the paper's number and the published baselines."""
    acc, f1 = summary["accuracy"], summary["macro_f1"]
    name = " + ".join(modalities)
    ci = (f" (95 % CI {_pct(acc.get('ci95_low'))}–{_pct(acc.get('ci95_high'))})"
          if acc.get("ci95_low") is not None else "")
    lines = [f"# Results: {name} ({task}{', ' + target if target else ''})", ""]
    if "demo" in dataset_root:
        lines += [f"> Data: `{dataset_root}` is the synthetic demo corpus. Its numbers check that "
                  "the pipeline learns; they are not comparable to the papers' RAVDESS results.", ""]
    lines += ["| system | accuracy % | macro-F1 % | UAR % |", "|---|---|---|---|",
              f"| **this run** ({summary['n_folds']} folds){ci} | {_pct(acc['mean'])} | "
              f"{_pct(f1['mean'])} | {_pct(summary['uar']['mean'])} |"]
    if task == "multiclass":
        paper = paper_accuracy(modalities)
        lines.append(f"| Houmard et al., same features | "
                     f"{'not reported' if paper is None else f'{paper:.2f}'} | – | – |")
        for label, value in HUMAN.items():
            mark = " (same input)" if label == modality_kind(modalities) else ""
            lines.append(f"| human raters, {label}{mark} | {value:.0f} | – | – |")
        for label, value in LUNA_JIMENEZ.items():
            lines.append(f"| Luna-Jiménez et al., {label} | {value:.2f} | – | – |")
    else:
        paper = paper_binary_f1(modalities, target or "")
        lines.append(f"| Houmard et al. TIM-Net, same feature, {target} vs rest | – | "
                     f"{'not reported' if paper is None else f'{100 * paper:.0f}'} | – |")
    lines += ["", "## Per fold", "", "| fold | accuracy % | UAR % | macro-F1 % |", "|---|---|---|---|"]
    folds = sorted(int(k.split("_")[1]) for k in acc if k.startswith("fold_"))
    for k in folds:
        lines.append(f"| {k} | {_pct(acc[f'fold_{k}'])} | {_pct(summary['uar'][f'fold_{k}'])} | "
                     f"{_pct(f1[f'fold_{k}'])} |")
    lines += ["", "## F1 per class (mean over folds)", "", "| class | F1 % |", "|---|---|"]
    lines += [f"| {c} | {_pct(v)} |" for c, v in summary["f1"].items()]
    if notes:
        lines += ["", "## Settings", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def plot_confusion(confusion: np.ndarray, class_names: list[str], path: Path, title: str) -> None:
    """Row-normalised confusion matrix (rows = actual) with counts, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion, float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(class_names), 0.8 + 0.7 * len(class_names)))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of actual class")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def plot_f1(f1: dict[str, float], path: Path, title: str) -> None:
    """Bar chart of the mean F1 per class."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, values = list(f1), [100 * f1[n] for n in f1]
    fig, ax = plt.subplots(figsize=(1.5 + 0.7 * len(names), 3.5))
    ax.bar(names, values, color="tab:blue")
    ax.set_ylim(0, 100)
    ax.set_ylabel("F1 %")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=45)
    for i, v in enumerate(values):
        ax.text(i, v + 1, f"{v:.0f}", ha="center", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
