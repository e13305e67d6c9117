"""The one params schema: every section and key of ``params.yaml``, its type and allowed values.

:func:`load_params` reads the file and checks it against :class:`Params` once, before a stage does
any work: an unknown key, a wrong type or a value outside its allowed set raises
:class:`ParamsError` naming the key, the value and what is allowed (a stage run through
:func:`features.core.cli.run_stage` prints it as one line, without a traceback). Keys may be left
out (a stage that needs one gets a ParamsError naming it from :func:`get`); the defaults below
document what the code uses then.

Adding a key is one line in its section's dataclass: ``name: type = default`` (a ``Literal``
for a fixed set of values; ``field(default=..., metadata=rule(test, "what is allowed"))`` for a
rule). Stages read values as today,
``get(params, "a.b")``, from the validated mapping, so values are stored byte for byte as written.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

PARAMS_FILE = Path("params.yaml")


class ParamsError(ValueError):
    """A value in params.yaml is missing or invalid (the message names the key)."""


# Allowed values, named once (domain modules import these instead of repeating the lists).
MEDIA = ("video", "audio")
ON_ERROR = ("skip", "fail")
DEMO_SIZES = ("tiny", "default", "full")
BACKENDS = ("loky", "dask")
TRACK_BACKENDS = ("embedded", "openface", "precomputed")
AU_BASELINES = ("neutral_ref", "video")
AU_MODEL_SETS = ("dynamic", "static")
FACE_MODES = ("centre", "tracked")
PADDINGS = ("zeros", "edge")
KPD_NORMALISATIONS = ("neutral_video", "same_video", "graph_path", "none")
NEUTRAL_FALLBACKS = ("same_video", "error")
FRAMINGS = ("video_aligned", "center_drop_last")
MEL_SCALES = ("htk", "slaney")
EYES_MODES = ("average", "concat")
INTERPOLATIONS = ("bilinear", "bicubic")
DEVICES = ("auto", "cpu", "cuda")
FLOAT_DTYPES = ("float16", "float32", "float64")
TASKS = ("multiclass", "binary")
EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
SELECTIONS = ("train_loss", "val_loss", "last")
RESNET_FEATURES = ("resnet_face", "resnet_eyes", "resnet_mouth")
FUSION_METHODS = ("logreg",)
CROP_PARTS = ("face", "eyes", "mouth")
CROP_CODECS = ("jpeg", "png", "webp", "raw")
FT_BATCH_NORM = ("frozen", "train")
FT_AUGMENTATIONS = ("none", "hflip")
FT_PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def rule(test: Callable[[Any], bool], allowed: str) -> dict[str, Any]:
    """Field metadata: the value must satisfy ``test``; ``allowed`` says what is allowed."""
    return {"rule": test, "allowed": allowed}


def _actor(a: Any) -> bool:
    return isinstance(a, str) and len(a) == 2 and a.isdigit() and 1 <= int(a) <= 24


def _even_positive(v: int) -> bool:
    return v > 0 and v % 2 == 0


def _wav2vec2_feature(name: str) -> bool:
    return name in ("wav2vec2", "wav2vec2_cnn") or bool(re.fullmatch(r"wav2vec2_layer\d+", name))


def _landmarks(v: Any) -> bool:
    return v == "default" or (isinstance(v, list) and len(v) >= 2 and len(set(v)) == len(v)
                              and all(isinstance(m, int) and 0 <= m <= 67 for m in v))


AT_LEAST_0 = rule(lambda v: v >= 0, "an integer >= 0")
AT_LEAST_1 = rule(lambda v: v >= 1, "an integer >= 1")
POSITIVE_INT = rule(lambda v: v > 0, "an integer > 0")
POSITIVE = rule(lambda v: v > 0, "a number > 0")
EVEN_POSITIVE = rule(_even_positive, "a positive even number (H.264 yuv420p)")
FRACTION = rule(lambda v: 0 < v <= 1, "a number in (0, 1]")
SHARE = rule(lambda v: 0 <= v <= 1, "a number in [0, 1]")
SIZE_HW = rule(lambda v: len(v) == 2 and min(v) > 0, "[height, width] > 0")
PAIR = rule(lambda v: len(v) == 2, "two values")
DEVICE = rule(lambda v: v in DEVICES or re.fullmatch(r"cuda:\d+", v) is not None,
              "auto | cpu | cuda | cuda:N")
TRAIN_DEVICE = rule(lambda v: v in DEVICES, "auto | cpu | cuda")
ACTORS = rule(lambda v: all(map(_actor, v)),
              "a list of two-digit strings '01'..'24' (they name the Actor_XX folders "
              "in DVC paths)")
LANDMARKS = rule(_landmarks, "'default' or a list of >= 2 distinct numbers in 0..67")
WAV2VEC2_FEATURES = rule(lambda v: all(_wav2vec2_feature(n) for n in v),
                         "a list of wav2vec2 | wav2vec2_cnn | wav2vec2_layer<N>")


@dataclasses.dataclass(frozen=True)
class Enabled:
    demo: list[Literal["corpus"]] = field(default_factory=lambda: ["corpus"])
    video: list[Literal["video"]] = field(default_factory=lambda: ["video"])
    crops: list[Literal["crops"]] = field(default_factory=list)
    wav2vec2: list[str] = field(default_factory=list, metadata=WAV2VEC2_FEATURES)
    resnet: list[Literal[RESNET_FEATURES]] = field(default_factory=list)
    finetune: list[Literal[CROP_PARTS]] = field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Dataset:
    root: str = "data/demo/corpus"
    media: Literal[MEDIA] = "video"
    actors: list[str] = field(default_factory=lambda: [f"{a:02d}" for a in range(1, 25)],
                              metadata=ACTORS)
    on_error: Literal[ON_ERROR] = "skip"
    require_audio: bool = True
    min_frames: int = field(default=88, metadata=AT_LEAST_1)
    folds: list[list[int]] = field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Demo:
    seed: int = 7
    size: Literal[DEMO_SIZES] = "default"
    width: int = field(default=640, metadata=EVEN_POSITIVE)
    height: int = field(default=360, metadata=EVEN_POSITIVE)
    fps: float = field(default=30.0, metadata=POSITIVE)
    jobs: int = field(default=2, metadata=AT_LEAST_1)
    # Keys and defaults: features.demo.style.Difficulty (its defaults depend on ``preset``:
    # calibrated | clean), which checks them when the demo stage reads them.
    difficulty: dict[str, Any] = field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Compute:
    jobs: int = field(default=1, metadata=AT_LEAST_1)
    backend: Literal[BACKENDS] = "loky"
    scheduler_address: str | None = ""


@dataclasses.dataclass(frozen=True)
class Frames:
    count: int = field(default=88, metadata=AT_LEAST_1)
    max_missing: float = field(default=0.5, metadata=SHARE)


@dataclasses.dataclass(frozen=True)
class Track:
    backend: Literal[TRACK_BACKENDS] = "embedded"
    openface_bin: str | list[str] = "FeatureExtraction"
    openface_args: list[str] = field(default_factory=list)
    openface_models: str | None = ""
    au_models: Literal[AU_MODEL_SETS] = "dynamic"
    precomputed_dir: str | None = ""
    detect_every: int = field(default=10, metadata=AT_LEAST_1)
    detect_scale: float = field(default=0.5, metadata=FRACTION)
    min_similarity: float = 0.5
    max_reprojection: float = 0.12
    au_baseline: Literal[AU_BASELINES] = "neutral_ref"
    baseline_percentile: float = field(default=10.0, metadata=rule(lambda v: 0 <= v < 50,
                                                                    "a number in [0, 50)"))
    au_unfollowed: Literal["zero", "keep"] = "zero"
    min_confidence: float = field(default=0.4, metadata=SHARE)
    confidence_every: int = field(default=3, metadata=AT_LEAST_1)
    max_jump: float = field(default=0.5, metadata=POSITIVE)
    max_scale_change: float = field(default=1.4, metadata=rule(lambda v: v >= 1, "a number >= 1"))
    identity_distance: float = field(default=0.6, metadata=POSITIVE)
    row_tolerance: int = field(default=2, metadata=AT_LEAST_0)


@dataclasses.dataclass(frozen=True)
class Crops:
    eye_size: list[int] = field(default_factory=lambda: [128, 128], metadata=SIZE_HW)
    mouth_size: list[int] = field(default_factory=lambda: [110, 180], metadata=SIZE_HW)
    face_size: int = field(default=224, metadata=POSITIVE_INT)
    face_mode: Literal[FACE_MODES] = "centre"
    face_margin: float = field(default=1.4, metadata=POSITIVE)
    padding: Literal[PADDINGS] = "zeros"
    codec: Literal[CROP_CODECS] = "jpeg"
    quality: int = field(default=90, metadata=rule(lambda v: 0 <= v <= 101, "0..100 (jpeg), 1..101 (webp)"))
    spaced_count: int = field(default=20, metadata=AT_LEAST_1)


@dataclasses.dataclass(frozen=True)
class Kpd:
    normalisation: Literal[KPD_NORMALISATIONS] = "neutral_video"
    face_landmarks: str | list[int] = field(default="default", metadata=LANDMARKS)
    neutral_fallback: Literal[NEUTRAL_FALLBACKS] = "same_video"


@dataclasses.dataclass(frozen=True)
class Gaze:
    fixation_threshold: float = 0.01
    blink_threshold: float = 1.0


@dataclasses.dataclass(frozen=True)
class Audio:
    sample_rate: int = field(default=48000, metadata=POSITIVE_INT)
    samples: int = field(default=140800, metadata=POSITIVE_INT)


@dataclasses.dataclass(frozen=True)
class Lms:
    n_mels: int = 24
    n_fft: int = 4800
    hop: int = 1600
    f_max: float | None = 17000
    f_min: float = 0
    mel_scale: Literal[MEL_SCALES] = "htk"
    mel_norm: Literal["slaney"] | None = None
    top_db: float | None = None
    db_ref: Literal["absolute", "max"] = "absolute"
    framing: Literal[FRAMINGS] = "video_aligned"


@dataclasses.dataclass(frozen=True)
class Mfcc:
    n_mfcc: int = 39
    n_mels: int = 40
    n_fft: int = 4800
    hop: int = 1600
    f_max: float | None = 17000
    f_min: float = 0
    mel_scale: Literal[MEL_SCALES] = "slaney"
    mel_norm: Literal["slaney"] | None = "slaney"
    top_db: float | None = 80.0
    framing: Literal[FRAMINGS] = "video_aligned"


@dataclasses.dataclass(frozen=True)
class Wav2Vec2:
    checkpoint: str = "facebook/wav2vec2-large"
    batch_size: int = field(default=4, metadata=AT_LEAST_1)
    device: str = field(default="auto", metadata=DEVICE)
    dtype: Literal[FLOAT_DTYPES] = "float16"


@dataclasses.dataclass(frozen=True)
class Resnet:
    checkpoint: str = "microsoft/resnet-18"
    eyes: Literal[EYES_MODES] = "average"
    size: int = field(default=224, metadata=POSITIVE_INT)
    interpolation: Literal[INTERPOLATIONS] = "bilinear"
    batch_size: int = field(default=32, metadata=AT_LEAST_1)
    device: str = field(default="auto", metadata=DEVICE)
    dtype: Literal[FLOAT_DTYPES] = "float16"


@dataclasses.dataclass(frozen=True)
class Features:
    audio: Audio = Audio()
    lms: Lms = Lms()
    mfcc: Mfcc = Mfcc()
    wav2vec2: Wav2Vec2 = Wav2Vec2()
    resnet: Resnet = Resnet()


@dataclasses.dataclass(frozen=True)
class Finetune:
    task: Literal[TASKS] = "multiclass"
    target: Literal[EMOTIONS] | None = "angry"
    lr: float | None = None
    batch_size: int | None = None
    epochs: int | None = None
    filters: int | None = None
    scales: int | None = None
    layers: int | None = 3
    kernel_size: int | None = 2
    dropout: float | None = 0.1
    label_smoothing: float = 0.1
    selection: Literal["train_loss", "last"] = "train_loss"
    bn_momentum: float | None = 0.1
    bn_eps: float = 0.001
    batch_norm: Literal[FT_BATCH_NORM] = "frozen"
    frozen_stages: int = field(default=0, metadata=rule(lambda v: 0 <= v <= 5, "0..5"))
    augmentation: Literal[FT_AUGMENTATIONS] = "none"
    precision: Literal[FT_PRECISIONS] = "auto"
    seed: int = 0
    device: str = field(default="auto", metadata=TRAIN_DEVICE)
    threads: int = field(default=0, metadata=AT_LEAST_0)


@dataclasses.dataclass(frozen=True)
class Augment:
    time_masks: int = field(default=0, metadata=AT_LEAST_0)
    time_width: int = field(default=8, metadata=AT_LEAST_0)
    freq_masks: int = field(default=0, metadata=AT_LEAST_0)
    freq_width: int = field(default=4, metadata=AT_LEAST_0)
    modalities: list[str] = field(default_factory=lambda: ["lms", "mfcc"])
    mixup: float = field(default=0.0, metadata=rule(lambda v: v >= 0, "a number >= 0"))


@dataclasses.dataclass(frozen=True)
class Train:
    modalities: list[str] | str = field(default_factory=lambda: ["lms", "kpd_face"])
    task: Literal[TASKS] = "multiclass"
    target: Literal[EMOTIONS] | None = "angry"
    folds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    filters: int | None = None
    scales: int | None = None
    layers: int | None = 3
    kernel_size: int | None = 2
    dropout: float | None = 0.1
    per_modality: dict[str, dict[str, Any]] | None = field(default_factory=dict)
    mlp_hidden: list[int] = field(default_factory=lambda: [128, 64], metadata=PAIR)
    mlp_dropout: float = 0.3
    modality_dropout: float = 0.0
    label_smoothing: float = 0.1
    selection: Literal[SELECTIONS] = "train_loss"
    val_actors: int = 2
    patience: int = 10
    bn_momentum: float | None = 0.1
    bn_eps: float = 0.001
    standardise: Literal["fold", "actor", "none"] = "fold"
    augment: Augment = Augment()
    seeds: int = field(default=1, metadata=AT_LEAST_1)
    jobs: int = field(default=1, metadata=AT_LEAST_1)
    adam_betas: list[float] = field(default_factory=lambda: [0.93, 0.98], metadata=PAIR)
    adam_eps: float = 1e-8
    seed: int = 0
    device: str = field(default="auto", metadata=TRAIN_DEVICE)
    threads: int = field(default=0, metadata=AT_LEAST_0)


@dataclasses.dataclass(frozen=True)
class Fusion:
    members: list[str] = field(default_factory=list)
    methods: list[Literal[FUSION_METHODS]] = field(default_factory=list)
    C: float = field(default=1.0, metadata=POSITIVE)


@dataclasses.dataclass(frozen=True)
class PredictLive:
    csv: str = "reports/predict/live.csv"
    hop: int = field(default=15, metadata=AT_LEAST_1)


@dataclasses.dataclass(frozen=True)
class Predict:
    inputs: list[str] = field(default_factory=list)
    fold: Literal["all"] | int = field(default="all", metadata=rule(
        lambda v: v == "all" or (isinstance(v, int) and v >= 0), "all or a fold index >= 0"))
    models: str = "data/models"
    window: int | None = field(default=None, metadata=rule(lambda v: v is None or v >= 1,
                                                            "null or an integer >= 1"))
    hop: int = field(default=15, metadata=AT_LEAST_1)
    fps: float = field(default=30.0, metadata=POSITIVE)
    clip_score: Literal["mean", "middle"] = "mean"
    neutral: Literal["clip", "first_seconds", "calibration"] = "clip"
    neutral_seconds: float = field(default=2.0, metadata=POSITIVE)
    calibration: str | dict[str, str] = ""
    live: PredictLive = PredictLive()


@dataclasses.dataclass(frozen=True)
class Params:
    """All of params.yaml."""

    enabled: Enabled = Enabled()
    dataset: Dataset = Dataset()
    demo: Demo = Demo()
    compute: Compute = Compute()
    frames: Frames = Frames()
    track: Track = Track()
    crops: Crops = Crops()
    kpd: Kpd = Kpd()
    gaze: Gaze = Gaze()
    features: Features = Features()
    finetune: Finetune = Finetune()
    train: Train = Train()
    fusion: Fusion = Fusion()
    predict: Predict = Predict()


# --- validation -------------------------------------------------------------------------------

def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if tp is Any:
        return "anything"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is Literal:
        return "one of " + " | ".join(map(str, get_args(tp)))
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in get_args(tp))
    if origin is list:
        return f"a list of ({_describe(get_args(tp)[0])})"
    if origin is dict:
        return "a mapping"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(tp, str(tp))


def _fail(key: str, value: Any, allowed: str) -> typing.NoReturn:
    raise ParamsError(f"params.yaml: {key}: {value!r} is not allowed; expected {allowed}")


def _check_value(value: Any, tp: Any, key: str) -> None:
    """Raise ParamsError unless ``value`` (from YAML) fits type ``tp``."""
    origin = get_origin(tp)
    if tp is Any:
        return
    if dataclasses.is_dataclass(tp):
        _check_section(value, tp, key)
    elif origin is Literal:
        if not any(value == a and type(value) is type(a) for a in get_args(tp)):
            _fail(key, value, _describe(tp))
    elif origin in (Union, types.UnionType):
        for arg in get_args(tp):
            try:
                if arg is type(None):
                    if value is None:
                        return
                    continue
                _check_value(value, arg, key)
                return
            except ParamsError:
                continue
        _fail(key, value, _describe(tp))
    elif origin is list:
        if not isinstance(value, list):
            _fail(key, value, _describe(tp))
        for i, item in enumerate(value):
            _check_value(item, get_args(tp)[0], f"{key}[{i}]")
    elif origin is dict:
        if not isinstance(value, dict):
            _fail(key, value, _describe(tp))
        for k, item in value.items():
            _check_value(item, get_args(tp)[1], f"{key}.{k}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(key, value, _describe(tp))
    elif tp in (int, str, bool):
        if isinstance(value, bool) is not (tp is bool) or not isinstance(value, tp):
            _fail(key, value, _describe(tp))
    else:  # pragma: no cover - a schema type this checker does not know is a bug in the schema
        raise TypeError(f"params schema: unsupported type {tp!r} for {key}")


def _check_section(section: Any, cls: type, key: str) -> None:
    if not isinstance(section, dict):
        _fail(key, section, "a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    for name, value in section.items():
        where = f"{key}.{name}" if key else str(name)
        if name not in fields:
            raise ParamsError(f"params.yaml: {where}: unknown key; allowed keys under "
                              f"{key or 'the top level'}: {', '.join(fields)}")
        allowed = fields[name].metadata.get("allowed")
        try:
            _check_value(value, hints[name], where)
        except ParamsError:
            if allowed is None:
                raise
            _fail(where, value, allowed)
        rule = fields[name].metadata.get("rule")
        if rule is not None and value is not None and not rule(value):
            _fail(where, value, fields[name].metadata["allowed"])


def _audio_only_has_no_visual_stage(params: dict[str, Any]) -> None:
    enabled = params.get("enabled") or {}
    visual = [k for k in ("video", "crops", "resnet") if enabled.get(k)]
    if (params.get("dataset") or {}).get("media") == "audio" and visual:
        raise ParamsError(f"params.yaml: dataset.media is 'audio' but enabled."
                          f"{', enabled.'.join(visual)} not empty: set them to [] so that no "
                          "tracking or visual stage is defined")


# Rules that involve several keys (each raises ParamsError naming them).
CROSS_CHECKS: list[Callable[[dict[str, Any]], None]] = [_audio_only_has_no_visual_stage]


def validate(params: dict[str, Any]) -> dict[str, Any]:
    """Check ``params`` (as read from YAML) against :class:`Params`; returns it unchanged."""
    _check_section(params, Params, "")
    for rule in CROSS_CHECKS:
        rule(params)
    return params


def typed(params: dict[str, Any]) -> Params:
    """The validated mapping as :class:`Params` dataclasses (absent keys take their defaults)."""
    def build(cls: type, section: dict[str, Any]) -> Any:
        hints = get_type_hints(cls)
        kw = {k: build(hints[k], v) if dataclasses.is_dataclass(hints[k]) else v
              for k, v in section.items()}
        return cls(**kw)
    return build(Params, validate(params))


def _yaml12(text: str) -> Any:
    """``text`` read with the YAML 1.2 core schema, as DVC reads params.yaml (ruamel.yaml)."""
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def _kind(v: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "text"}.get(type(v), type(v).__name__)


def _first_difference(a: Any, b: Any, key: str = "") -> tuple[str, Any, Any] | None:
    """The first ``(dotted key, YAML 1.1 value, YAML 1.2 value)`` where two loads disagree."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            sub = f"{key}.{k}" if key else str(k)
            if k not in b:
                return sub, a[k], "(key read differently)"
            found = _first_difference(a[k], b[k], sub)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, f"{key}[{i}]")
            if found:
                return found
        return None
    if type(a) is not type(b) or a != b:
        return key, a, b
    return None


def read_yaml(path: str | Path) -> Any:
    """A YAML file of the project's (params.yaml) as DVC reads it: YAML 1.2, plain Python types.

    The project and DVC must see the same values: a scalar that YAML 1.1 (PyYAML, what a script's
    ``yaml.safe_dump`` writes for) and YAML 1.2 (DVC) read differently, such as an unquoted ``08``
    (text in 1.1, the number 8 in 1.2: DVC would name the stage ``audio@8``) or ``yes`` (a boolean in
    1.1, text in 1.2), is refused with one line naming the key, both readings and the fix.
    """
    from ruamel.yaml.error import YAMLError as YAML12Error

    path = Path(path)
    text = path.read_text()
    try:
        new = _yaml12(text)
        old = yaml.safe_load(text)
    except (yaml.YAMLError, YAML12Error) as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    diff = _first_difference(old, new)
    if diff:
        key, old, val = diff
        raise ParamsError(f"{path}: {key}: YAML 1.1 reads {old!r} ({_kind(old)}) but DVC's YAML 1.2 "
                          f"reads {val!r} ({_kind(val)}); write it unambiguously (quote text: "
                          f"\"{old}\"; or write the number / true / false you mean)")
    return new


def dump_params(params: dict[str, Any]) -> str:
    """YAML text of ``params`` that YAML 1.1 and 1.2 read back alike (digit strings such as actor
    ``"08"`` are quoted; PyYAML's ``safe_dump`` leaves them bare, which DVC reads as numbers)."""

    class _Quoting(yaml.SafeDumper):
        pass

    def _str(d: yaml.SafeDumper, v: str) -> yaml.Node:
        try:
            same = isinstance(_yaml12(v), str) and _yaml12(v) == v
        except Exception:  # noqa: BLE001 - anything ruamel cannot read bare gets quoted
            same = False
        quote = None if same else "'"
        return d.represent_scalar("tag:yaml.org,2002:str", v, style=quote)

    _Quoting.add_representer(str, _str)
    return yaml.dump(params, Dumper=_Quoting, sort_keys=False)


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Load params.yaml as a nested dict (:func:`read_yaml`: as DVC reads it), validated against
    the schema (ParamsError if not)."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: params file not found (run stages from the repository root)")
    params = read_yaml(path) or {}
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    try:
        return validate(params)
    except ParamsError as exc:
        if path.name != "params.yaml" or path.parent != Path("."):
            raise ParamsError(str(exc).replace("params.yaml:", f"{path}:", 1)) from None
        raise


def get(params: dict[str, Any], dotted: str, default: Any = ...) -> Any:
    """Read ``a.b.c`` from nested params; raise ParamsError naming the key if absent."""
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not ...:
                return default
            raise ParamsError(f"params.yaml: missing key {dotted!r}")
        node = node[part]
    return node


def actor_ids(params: dict[str, Any]) -> list[int]:
    """The selected actors as integers (1..24): the one representation of an actor in code."""
    return [int(a) for a in get(params, "dataset.actors")]
