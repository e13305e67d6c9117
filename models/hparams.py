"""Experiment settings: the paper's hyperparameters (Table C.1) and the params.yaml overrides.

``resolve_experiment(<the train section of params.yaml>)`` gives one :class:`Experiment` describing the run of every
fold: modalities, task, the optimiser settings and one :class:`TrunkSpec`-like dict per modality.
A ``null`` in params.yaml means "the paper's value"; each resolved value records where it came
from (``sources``) so reports can say whether a run used the paper's settings.

Choices where Table C.1 is silent (stated here and in docs/pipeline.md):

* MFCC (preliminary runs only) uses the LMS row; gaze (4 dims) uses the head-pose row.
* Combinations: with Wav2Vec2 -> the "Multimodal with Wav2Vec2-L" row; with LMS or MFCC -> the
  "Multimodal with LMS" row; video-only combinations (no row in the paper) -> the row of the
  first listed modality. The multimodal rows give 7 scales, used for every trunk.
* The multimodal rows are marked "multi-class"; binary runs on combinations use them too.
* Filters: 64, except 32 for the eyes ResNet in multi-class unimodal runs and for every trunk
  of the LMS + eyes KPD combination (as the paper reports).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from features.core.ravdess import EMOTION_NAMES

# feature -> (lr multiclass, lr binary, batch, epochs, scales)   [Table C.1]
TABLE_C1: dict[str, tuple[float, float, int, int, int]] = {
    "wav2vec2": (5e-5, 5e-5, 16, 100, 8),
    "lms": (1e-3, 1e-3, 64, 100, 7),
    "mfcc": (1e-3, 1e-3, 64, 100, 7),            # not in C.1: LMS row (choice)
    "resnet_face": (2e-4, 2e-4, 8, 60, 5),
    "resnet_mouth": (2e-4, 2e-4, 8, 60, 5),
    "resnet_eyes": (2e-4, 2e-4, 8, 60, 5),
    # fine-tuned per fold (stages/finetune.py), frozen for Multi-Net: the ResNet rows
    "resnet_face_ft": (2e-4, 2e-4, 8, 60, 5),
    "resnet_mouth_ft": (2e-4, 2e-4, 8, 60, 5),
    "resnet_eyes_ft": (2e-4, 2e-4, 8, 60, 5),
    "kpd_face": (5e-4, 2e-4, 64, 100, 7),
    "kpd_eyes": (5e-4, 2e-4, 64, 100, 7),
    "au": (2e-4, 2e-4, 64, 40, 7),
    "pose": (2e-4, 2e-4, 64, 100, 8),
    "gaze": (2e-4, 2e-4, 64, 100, 8),            # not in C.1: head-pose row (choice)
}
MULTIMODAL_C1: dict[str, tuple[float, int, int, int]] = {   # lr, batch, epochs, scales
    "wav2vec2": (1e-4, 64, 100, 7),
    "lms": (2e-3, 64, 100, 7),
}
TASKS = ("multiclass", "binary")
SELECTIONS = ("train_loss", "val_loss", "last")
TRUNK_KEYS = ("filters", "scales", "layers", "kernel_size", "dropout")
STANDARDISE = ("fold", "actor", "none")
AUGMENT_DEFAULTS: dict[str, Any] = {"time_masks": 0, "time_width": 8, "freq_masks": 0,
                                    "freq_width": 4, "modalities": ["lms", "mfcc"], "mixup": 0.0}
# Keras BatchNormalization momentum 0.99 (official TIM-Net) in PyTorch's convention.
PAPER_BN_MOMENTUM = 0.01


class ExperimentError(ValueError):
    """An invalid ``train`` section (the message names the key)."""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Everything one fold's training needs, resolved from params.yaml ``train``."""

    modalities: list[str]
    task: str
    target: str | None
    class_names: list[str]
    lr: float
    batch_size: int
    epochs: int
    trunks: dict[str, dict[str, Any]]   # modality -> filters, scales, layers, kernel_size, dropout
    mlp_hidden: tuple[int, int]
    mlp_dropout: float
    modality_dropout: float
    label_smoothing: float
    selection: str
    val_actors: int
    patience: int
    bn_momentum: float
    bn_eps: float
    adam_betas: tuple[float, float]
    adam_eps: float
    seed: int
    device: str
    threads: int                        # torch CPU threads, 0 = cores // jobs
    sources: dict[str, str]             # hyperparameter -> "paper (Table C.1 ...)" | "params"
    jobs: int = 1                       # trainings running at the same time (queue -j)
    seeds: int = 1                      # models per fold (seeds seed .. seed + seeds - 1), averaged
    standardise: str = "fold"           # fold | actor | none (models.data)
    augment: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(AUGMENT_DEFAULTS))

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mlp_hidden"] = list(self.mlp_hidden)
        d["adam_betas"] = list(self.adam_betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Experiment:
        d = dict(d)
        d["mlp_hidden"] = tuple(d["mlp_hidden"])
        d["adam_betas"] = tuple(d["adam_betas"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def paper_row(modalities: list[str], task: str) -> tuple[dict[str, Any], str]:
    """Table C.1 values (lr, batch_size, epochs, scales per modality, filters per modality) + row name."""
    unknown = [m for m in modalities if m not in TABLE_C1]
    if unknown:
        raise ExperimentError(f"train.modalities: unknown feature(s) {unknown}; "
                              f"known: {sorted(TABLE_C1)}")
    filters = {m: 64 for m in modalities}
    if len(modalities) == 1:
        m = modalities[0]
        lr_mc, lr_bin, batch, epochs, scales = TABLE_C1[m]
        if m in ("resnet_eyes", "resnet_eyes_ft") and task == "multiclass":
            filters[m] = 32
        return ({"lr": lr_mc if task == "multiclass" else lr_bin, "batch_size": batch,
                 "epochs": epochs, "scales": {m: scales}, "filters": filters},
                f"Table C.1 {m} ({task})")
    if "wav2vec2" in modalities:
        key, row = "wav2vec2", "multimodal with Wav2Vec2-L"
    elif "lms" in modalities or "mfcc" in modalities:
        key, row = "lms", "multimodal with LMS"
    else:
        key, row = None, f"video-only combination: row of {modalities[0]} (choice)"
    if key is not None:
        lr, batch, epochs, scales = MULTIMODAL_C1[key]
    else:
        lr_mc, lr_bin, batch, epochs, _ = TABLE_C1[modalities[0]]
        lr, scales = (lr_mc if task == "multiclass" else lr_bin), 7
    if set(modalities) == {"lms", "kpd_eyes"}:
        filters = {m: 32 for m in modalities}
    return ({"lr": lr, "batch_size": batch, "epochs": epochs,
             "scales": {m: scales for m in modalities}, "filters": filters}, f"Table C.1 {row}")


def _num(train: dict[str, Any], key: str, kind: type, default: Any = ...) -> Any:
    if key not in train:
        if default is ...:
            raise ExperimentError(f"params.yaml: missing key 'train.{key}'")
        return default
    value = train[key]
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ExperimentError(f"params.yaml: train.{key} must be {kind.__name__}; got {value!r}") from exc


def resolve_experiment(train: dict[str, Any]) -> Experiment:
    """Resolve params.yaml ``train`` into an :class:`Experiment` (paper values where null)."""
    modalities = train.get("modalities")
    if isinstance(modalities, str):
        modalities = [modalities]
    if not modalities or not all(isinstance(m, str) for m in modalities):
        raise ExperimentError(f"train.modalities must be a non-empty list of feature names; "
                              f"got {modalities!r}")
    if len(set(modalities)) != len(modalities):
        raise ExperimentError(f"train.modalities lists a feature twice: {modalities}")
    task = train.get("task", "multiclass")
    if task not in TASKS:
        raise ExperimentError(f"train.task must be one of {TASKS}; got {task!r}")
    target = train.get("target")
    if task == "binary":
        if target not in EMOTION_NAMES:
            raise ExperimentError(f"train.target must be one of {EMOTION_NAMES} for the binary "
                                  f"task; got {target!r}")
        class_names = [f"not_{target}", target]
    else:
        target, class_names = None, list(EMOTION_NAMES)
    paper, row = paper_row(list(modalities), task)
    sources: dict[str, str] = {}

    def pick(key: str, kind: type) -> Any:
        if train.get(key) is None:
            sources[key] = f"paper ({row})"
            return paper[key]
        sources[key] = "params"
        return _num(train, key, kind)

    lr, batch, epochs = pick("lr", float), pick("batch_size", int), pick("epochs", int)
    per_mod = train.get("per_modality") or {}
    if not isinstance(per_mod, dict):
        raise ExperimentError(f"train.per_modality must be a mapping; got {per_mod!r}")
    trunks: dict[str, dict[str, Any]] = {}
    for m in modalities:
        over = per_mod.get(m) or {}
        bad = sorted(set(over) - set(TRUNK_KEYS))
        if bad:
            raise ExperimentError(f"train.per_modality.{m}: unknown keys {bad} (allowed {TRUNK_KEYS})")
        spec: dict[str, Any] = {}
        for key, kind in (("filters", int), ("scales", int), ("layers", int),
                          ("kernel_size", int), ("dropout", float)):
            if over.get(key) is not None:
                spec[key], sources[f"{m}.{key}"] = kind(over[key]), "params (per_modality)"
            elif train.get(key) is not None:
                spec[key], sources[f"{m}.{key}"] = _num(train, key, kind), "params"
            elif key in ("filters", "scales"):
                spec[key], sources[f"{m}.{key}"] = paper[key][m], f"paper ({row})"
            else:
                default = {"layers": 3, "kernel_size": 2, "dropout": 0.1}[key]
                spec[key], sources[f"{m}.{key}"] = default, "paper (Multi-Net L=3, kernel 2, dropout 0.1)"
        trunks[m] = spec
    selection = train.get("selection", "train_loss")
    if selection not in SELECTIONS:
        raise ExperimentError(f"train.selection must be one of {SELECTIONS}; got {selection!r}")
    hidden = train.get("mlp_hidden", [128, 64])
    if not (isinstance(hidden, (list, tuple)) and len(hidden) == 2):
        raise ExperimentError(f"train.mlp_hidden must be two widths; got {hidden!r}")
    betas = train.get("adam_betas", [0.93, 0.98])
    device = str(train.get("device", "auto"))
    if device not in ("auto", "cpu", "cuda"):
        raise ExperimentError(f"train.device must be auto, cpu or cuda; got {device!r}")
    standardise = train.get("standardise", "fold")
    if standardise not in STANDARDISE:
        raise ExperimentError(f"train.standardise must be one of {STANDARDISE}; got {standardise!r}")
    augment = resolve_augment(train.get("augment"))
    if train.get("bn_momentum") is None:
        bn_momentum, sources["bn_momentum"] = PAPER_BN_MOMENTUM, "paper (official TIM-Net, Keras 0.99)"
    else:
        bn_momentum, sources["bn_momentum"] = _num(train, "bn_momentum", float), "params"
    exp = Experiment(
        modalities=list(modalities), task=task, target=target, class_names=class_names,
        lr=lr, batch_size=batch, epochs=epochs, trunks=trunks,
        mlp_hidden=(int(hidden[0]), int(hidden[1])),
        mlp_dropout=_num(train, "mlp_dropout", float, 0.3),
        modality_dropout=_num(train, "modality_dropout", float, 0.0),
        label_smoothing=_num(train, "label_smoothing", float, 0.1),
        selection=selection, val_actors=_num(train, "val_actors", int, 2),
        patience=_num(train, "patience", int, 10),
        bn_momentum=bn_momentum,
        bn_eps=_num(train, "bn_eps", float, 1e-3),
        adam_betas=(float(betas[0]), float(betas[1])),
        adam_eps=_num(train, "adam_eps", float, 1e-8),
        seed=_num(train, "seed", int, 0), device=device,
        threads=_num(train, "threads", int, 0), sources=sources,
        jobs=_num(train, "jobs", int, 1), seeds=_num(train, "seeds", int, 1),
        standardise=standardise, augment=augment)
    if exp.epochs < 1 or exp.batch_size < 2 or exp.lr <= 0:
        raise ExperimentError(f"train: epochs >= 1, batch_size >= 2 and lr > 0 required; got "
                              f"{exp.epochs}, {exp.batch_size}, {exp.lr}")
    if exp.seeds < 1 or exp.jobs < 1 or exp.threads < 0:
        raise ExperimentError(f"train: seeds >= 1, jobs >= 1 and threads >= 0 required; got "
                              f"{exp.seeds}, {exp.jobs}, {exp.threads}")
    if not 0.0 < exp.bn_momentum <= 1.0:
        raise ExperimentError(f"train.bn_momentum must be in (0, 1]; got {exp.bn_momentum}")
    return exp


def resolve_augment(section: Any) -> dict[str, Any]:
    """``train.augment`` with defaults filled in (everything off); errors name the key."""
    section = {} if section is None else section
    if not isinstance(section, dict):
        raise ExperimentError(f"train.augment must be a mapping; got {section!r}")
    bad = sorted(set(section) - set(AUGMENT_DEFAULTS))
    if bad:
        raise ExperimentError(f"train.augment: unknown keys {bad} (allowed {sorted(AUGMENT_DEFAULTS)})")
    out = dict(AUGMENT_DEFAULTS)
    for key, default in AUGMENT_DEFAULTS.items():
        value = section.get(key)
        if value is None:
            continue
        if key == "modalities":
            value = [value] if isinstance(value, str) else list(value)
        else:
            try:
                value = type(default)(value)
            except (TypeError, ValueError) as exc:
                raise ExperimentError(f"train.augment.{key} must be {type(default).__name__}; "
                                      f"got {value!r}") from exc
            if value < 0:
                raise ExperimentError(f"train.augment.{key} must be >= 0; got {value}")
        out[key] = value
    return out
