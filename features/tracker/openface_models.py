"""OpenFace 2.2's model files, as a user supplies them: where they are and how to read them.

The files are OpenFace's (Baltrusaitis et al.; academic, non-commercial licence): the project never
ships them. A user points ``track.openface_models`` at one of

* an OpenFace source tree (``lib/local/FaceAnalyser/AU_predictors/`` inside it),
* an OpenFace installation or build folder, or the ``FeatureExtraction`` binary itself
  (``AU_predictors/`` beside the binary, as OpenFace's build copies it),
* a flat folder holding ``AU_predictors/`` (what ``python -m features.tracker.fetch_openface``
  writes), or ``AU_predictors/`` itself;

left empty, the ``OPENFACE_MODELS_DIR`` environment variable is used, then the per-user folder that
OpenFace's model downloaders use, ``~/.local/share/OpenFaceModels/2.2.0/``. Without any of them the
embedded tracker keeps its geometric AUs (:func:`locate` returns ``None``; its report says so);
``track.openface_models: none`` asks for the geometric AUs even where models are installed.

The default locations are outside the DVC pipeline's view: a run's track report names the folder
its AUs came from, and setting ``track.openface_models`` explicitly makes it a parameter that
``dvc repro`` follows.

What is read (all from ``AU_predictors/``, following OpenFace's own index files):

* ``main_dynamic_svms.txt`` / ``main_static_svms.txt``: ``AUPredictor <list>``, ``PDM <file>``,
  ``Triangulation <file>`` (``track.au_models: dynamic | static`` picks one, like OpenFace's
  ``-au_static`` switch);
* the AU list (``AU_all_best.txt`` / ``AU_all_static.txt``): ``<model file> <AU name>`` per line;
* each model file (binary, little-endian): ``int32`` kind (0 static SVR, 1 dynamic SVR, 4 static
  SVM, 5 dynamic SVM); a dynamic SVR then has a ``float64`` cutoff (the quantile of the video's
  predictions taken as its neutral offset, -1 for none); then the feature means and the weights as
  OpenCV matrices (``int32`` rows, cols, type 6 = float64, then the values), a ``float64`` bias, and
  for SVMs the ``float64`` labels of the positive and negative side;
* the PDM (text: OpenCV matrices ``rows cols type`` then values, ``#`` comments): mean shape
  ``(204, 1)`` (x of the 68 points, then y, then z, mm), principal components ``(204, 34)``,
  eigenvalues ``(1, 34)``;
* the triangulation (same text format): ``(111, 3)`` point indices, the face mask of the aligned
  face.

Every problem (missing folder or file, truncated or malformed file) raises
:class:`OpenFaceModelError` naming the file and what is wrong.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import struct
from pathlib import Path

import numpy as np

ENV_VAR = "OPENFACE_MODELS_DIR"
USER_DIR = Path("~/.local/share/OpenFaceModels/2.2.0")
INDEX = {"dynamic": "main_dynamic_svms.txt", "static": "main_static_svms.txt"}
# where AU_predictors/ sits below each kind of folder a user may give
_LAYOUTS = (".", "AU_predictors", "lib/local/FaceAnalyser/AU_predictors", "share/OpenFace/AU_predictors",
            "bin/AU_predictors")
KINDS = {0: ("svr", False), 1: ("svr", True), 4: ("svm", False), 5: ("svm", True)}


class OpenFaceModelError(RuntimeError):
    """An OpenFace model file is missing, truncated or malformed (the message names it)."""


@dataclasses.dataclass(frozen=True)
class PDM:
    """OpenFace's 3D point distribution model: ``mean (68, 3)`` mm, ``modes (68, 3, 34)`` (how each
    point moves per unit of each non-rigid parameter), ``eigen (34,)`` (each mode's variance)."""

    mean: np.ndarray
    modes: np.ndarray
    eigen: np.ndarray

    @property
    def n_modes(self) -> int:
        return int(self.eigen.shape[0])

    def shape3d(self, p_local: np.ndarray) -> np.ndarray:
        """Object-space shape ``(68, 3)`` mm of the non-rigid parameters ``p_local (34,)``."""
        return self.mean + self.modes @ p_local


@dataclasses.dataclass(frozen=True)
class AUModel:
    """One linear AU model: ``name`` (``AU01``), ``kind`` (svr | svm), ``dynamic`` (features minus
    the video's running median), ``means (d,)``, ``weights (d,)``, ``bias``, ``cutoff`` (dynamic SVR
    only, -1 = none), ``labels`` (SVM: values for the positive and negative side)."""

    name: str
    kind: str
    dynamic: bool
    means: np.ndarray
    weights: np.ndarray
    bias: float
    cutoff: float = -1.0
    labels: tuple[float, float] = (1.0, 0.0)


@dataclasses.dataclass(frozen=True)
class OpenFaceModels:
    """What the appearance AUs need: the folder, the model set, PDM, triangulation, AU models."""

    root: Path
    model_set: str
    pdm: PDM
    triangulation: np.ndarray
    regressors: tuple[AUModel, ...]
    classifiers: tuple[AUModel, ...]

    @functools.cached_property
    def outline(self) -> np.ndarray:
        """Indices of the triangles on the outline of the mask (see :func:`outline_triangles`)."""
        return outline_triangles(self.triangulation)

    def describe(self) -> str:
        return (f"OpenFace 2.2 appearance models ({self.model_set}: {len(self.regressors)} intensity, "
                f"{len(self.classifiers)} presence) from {self.root}")


def candidates(setting: str = "") -> list[tuple[Path, str]]:
    """Folders to look in, in order, each with where it came from (for messages)."""
    if setting:
        return [(Path(setting).expanduser(), "track.openface_models")]
    out = []
    if os.environ.get(ENV_VAR):
        out.append((Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"))
    out.append((USER_DIR.expanduser(), "the per-user OpenFace model folder"))
    return out


def au_predictors_dir(folder: Path) -> Path | None:
    """``AU_predictors/`` below an OpenFace source tree, installation, binary or flat folder."""
    base = folder.parent if folder.is_file() else folder
    for rel in _LAYOUTS:
        d = base if rel == "." else base / rel
        if (d / INDEX["dynamic"]).exists() or (d / INDEX["static"]).exists():
            return d
    return None


def locate(setting: str = "") -> Path | None:
    """The ``AU_predictors/`` folder to use, or None when no OpenFace models are installed.

    An explicit ``setting`` or ``$OPENFACE_MODELS_DIR`` that holds no models is an error (the user
    asked for them); the default per-user folder may simply be absent.
    """
    if setting.strip().lower() == "none":
        return None
    for folder, source in candidates(setting):
        found = au_predictors_dir(folder)
        if found is not None:
            return found
        if source != "the per-user OpenFace model folder":
            raise OpenFaceModelError(
                f"{folder} ({source}): no OpenFace AU models there (looked for "
                f"{' or '.join(r + '/' + INDEX['dynamic'] for r in _LAYOUTS)}); point it at an "
                "OpenFace source tree, installation or a folder holding AU_predictors/, or run "
                "`python -m features.tracker.fetch_openface` (docs/tracker.md)")
    return None


def _read_text_mats(path: Path, count: int) -> list[np.ndarray]:
    """``count`` OpenCV text matrices (``rows cols type`` then values; ``#`` comment lines)."""
    if not path.exists():
        raise OpenFaceModelError(f"{path}: file missing")
    tokens = [t for line in path.read_text(errors="replace").splitlines()
              if not line.lstrip().startswith("#") for t in line.split()]
    mats, pos = [], 0
    for k in range(count):
        try:
            rows, cols, _ = (int(t) for t in tokens[pos:pos + 3])
            vals = np.array(tokens[pos + 3:pos + 3 + rows * cols], dtype=np.float64)
        except ValueError as exc:
            raise OpenFaceModelError(f"{path}: matrix {k + 1} is malformed ({exc})") from None
        if rows <= 0 or cols <= 0 or vals.size != rows * cols:
            raise OpenFaceModelError(f"{path}: matrix {k + 1} of {count} is truncated "
                                     f"(expected {max(rows * cols, 0)} values, got {vals.size})")
        mats.append(vals.reshape(rows, cols))
        pos += 3 + rows * cols
    return mats


def read_pdm(path: Path) -> PDM:
    """OpenFace's PDM text file (see the module docstring)."""
    mean, princ, eigen = _read_text_mats(path, 3)
    if mean.shape != (204, 1) or princ.shape[0] != 204 or eigen.shape != (1, princ.shape[1]):
        raise OpenFaceModelError(f"{path}: not a 68-point PDM (shapes {mean.shape}, {princ.shape}, "
                                 f"{eigen.shape})")
    m = princ.shape[1]
    mean3 = mean[:, 0].reshape(3, 68).T.copy()
    modes = princ.reshape(3, 68, m).transpose(1, 0, 2).copy()
    return PDM(mean3, modes, eigen[0].copy())


def read_triangulation(path: Path) -> np.ndarray:
    """Triangles ``(t, 3)`` of 68-point indices."""
    (tris,) = _read_text_mats(path, 1)
    if tris.shape[1] != 3 or tris.min() < 0 or tris.max() > 67:
        raise OpenFaceModelError(f"{path}: not a 68-point triangulation (shape {tris.shape})")
    return tris.astype(np.int64)


def outline_triangles(triangles: np.ndarray) -> np.ndarray:
    """Indices of the triangles with an edge on the outline of their union (an edge no other
    triangle shares): the only ones a pixel at the outline can lie in."""
    edges = np.sort(triangles[:, [[0, 1], [1, 2], [0, 2]]], axis=-1).reshape(-1, 2)
    _, inv, counts = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    return np.flatnonzero((counts[inv.ravel()] == 1).reshape(-1, 3).any(axis=1))


class _Reader:
    def __init__(self, path: Path):
        self.path, self.buf, self.pos = path, path.read_bytes(), 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise OpenFaceModelError(f"{self.path}: truncated ({len(self.buf)} bytes, needs more than "
                                     f"{self.pos + size - 1})")
        vals = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return vals

    def mat(self) -> np.ndarray:
        rows, cols, typ = self.take("<3i")
        if typ != 6 or rows <= 0 or cols <= 0:
            raise OpenFaceModelError(f"{self.path}: unexpected matrix header {rows}x{cols} type {typ}")
        return np.array(self.take(f"<{rows * cols}d")).reshape(rows, cols)


def read_au_model(path: Path, name: str) -> AUModel:
    """One binary AU model file (see the module docstring)."""
    if not path.exists():
        raise OpenFaceModelError(f"{path}: file missing (listed for {name})")
    r = _Reader(path)
    (code,) = r.take("<i")
    if code not in KINDS:
        raise OpenFaceModelError(f"{path}: unknown model kind {code}")
    kind, dynamic = KINDS[code]
    cutoff = r.take("<d")[0] if code == 1 else -1.0
    means, weights = r.mat(), r.mat()
    (bias,) = r.take("<d")
    labels = r.take("<2d") if kind == "svm" else (1.0, 0.0)
    if means.shape[0] != 1 or weights.shape != (means.shape[1], 1):
        raise OpenFaceModelError(f"{path}: means {means.shape} and weights {weights.shape} disagree")
    if r.pos != len(r.buf):
        raise OpenFaceModelError(f"{path}: {len(r.buf) - r.pos} unexpected bytes at the end")
    return AUModel(name, kind, dynamic, means[0], weights[:, 0], float(bias), float(cutoff),
                   (float(labels[0]), float(labels[1])))


def _index(path: Path) -> dict[str, str]:
    if not path.exists():
        raise OpenFaceModelError(f"{path}: file missing")
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    for key in ("AUPredictor", "PDM", "Triangulation"):
        if key not in out:
            raise OpenFaceModelError(f"{path}: no '{key}' line")
    return out


@functools.lru_cache(maxsize=4)
def load(au_dir: str | Path, model_set: str = "dynamic") -> OpenFaceModels:
    """Read the model set ``dynamic`` (FeatureExtraction's default) or ``static`` (``-au_static``)
    from an ``AU_predictors/`` folder; read-only arrays, cached per process."""
    if model_set not in INDEX:
        raise ValueError(f"track.au_models must be dynamic or static, got {model_set!r}")
    root = Path(au_dir)
    idx = _index(root / INDEX[model_set])
    pdm = read_pdm(root / idx["PDM"])
    tris = read_triangulation(root / idx["Triangulation"])
    listing = root / idx["AUPredictor"]
    if not listing.exists():
        raise OpenFaceModelError(f"{listing}: file missing (named in {root / INDEX[model_set]})")
    models = []
    for line in listing.read_text().splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        for name in parts[1].split(","):
            models.append(read_au_model(root / parts[0], name))
    if not models:
        raise OpenFaceModelError(f"{listing}: lists no AU model")
    dims = {m.means.shape[0] for m in models}
    if len(dims) != 1:
        raise OpenFaceModelError(f"{listing}: models of different feature sizes {sorted(dims)}")
    for arr in (pdm.mean, pdm.modes, pdm.eigen, tris):
        arr.setflags(write=False)
    regs = tuple(sorted((m for m in models if m.kind == "svr"), key=lambda m: m.name))
    clss = tuple(sorted((m for m in models if m.kind == "svm"), key=lambda m: m.name))
    return OpenFaceModels(root, model_set, pdm, tris, regs, clss)
