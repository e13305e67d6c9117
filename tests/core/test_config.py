"""The params schema: the shipped params.yaml is valid; an unknown key, a wrong type or a value
outside its allowed set is rejected naming key, value and what is allowed; a stage prints that
as one line without a traceback, while other errors keep theirs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from features.core.cli import run_stage
from features.core.config import ParamsError, dump_params, load_params, typed, validate

REPO = Path(__file__).resolve().parents[2]


def test_shipped_params_are_valid_and_typed():
    params = load_params(REPO / "params.yaml")
    cfg = typed(params)
    assert cfg.kpd.normalisation == params["kpd"]["normalisation"]
    assert cfg.features.lms.n_mels == params["features"]["lms"]["n_mels"]
    assert cfg.compute.jobs == params["compute"]["jobs"]
    assert typed({}).frames.count == 88                     # absent keys take the defaults


@pytest.mark.parametrize("params,message", [
    ({"kpd": {"normalisaton": "none"}},
     "kpd.normalisaton: unknown key; allowed keys under kpd: normalisation, face_landmarks, "
     "neutral_fallback"),
    ({"kpd": {"normalisation": "neutral"}},
     "kpd.normalisation: 'neutral' is not allowed; expected one of neutral_video | same_video | "
     "graph_path | none"),
    ({"compute": {"jobs": "2"}}, "compute.jobs: '2' is not allowed; expected an integer >= 1"),
    ({"compute": {"jobs": 0}}, "compute.jobs: 0 is not allowed; expected an integer >= 1"),
    ({"frames": {"count": True}}, "frames.count: True is not allowed; expected an integer >= 1"),
    ({"dataset": {"actors": [1, 2]}}, "dataset.actors: [1, 2] is not allowed; expected a list of "
     "two-digit strings"),
    ({"features": {"lms": {"mel_scale": "mel"}}}, "features.lms.mel_scale: 'mel' is not allowed"),
    ({"features": {"resnet": {"dtype": "int8"}}}, "features.resnet.dtype: 'int8' is not allowed; "
     "expected one of float16 | float32 | float64"),
    ({"track": {"backend": "dlib"}}, "track.backend: 'dlib' is not allowed; expected one of "
     "embedded | openface | precomputed"),
    ({"demo": {"width": 95}}, "demo.width: 95 is not allowed; expected a positive even number"),
    ({"enabled": {"wav2vec2": ["wav2vec"]}}, "enabled.wav2vec2: ['wav2vec'] is not allowed"),
    ({"train": {"per_modality": {"lms": 3}}}, "train.per_modality"),
    ({"crops": []}, "crops: [] is not allowed; expected a mapping"),
    ({"dataset": {"media": "audio"}, "enabled": {"video": ["video"]}},
     "dataset.media is 'audio' but enabled.video not empty"),
    ({"colour": 1}, "colour: unknown key; allowed keys under the top level: enabled, dataset"),
])
def test_bad_params_name_key_value_and_allowed(params, message):
    with pytest.raises(ParamsError) as err:
        validate(params)
    assert str(err.value).startswith("params.yaml: ") and message in str(err.value)


def test_nullable_and_numeric_fields_accept_their_types():
    validate({"features": {"lms": {"f_max": None, "top_db": 80}, "mfcc": {"mel_norm": None}},
              "train": {"lr": None, "epochs": 3, "per_modality": {"lms": {"scales": 4}}},
              "kpd": {"face_landmarks": [1, 2, 3]}, "demo": {"fps": 25}})


def _stage(tmp_path: Path, params: dict, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "params.yaml").write_text(dump_params(params))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_stage_prints_a_params_error_as_one_line(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["kpd"]["normalisation"] = "neutral_vid"
    proc = _stage(tmp_path, params, "stages.kpd", "face,eyes", "01")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: params.yaml: kpd.normalisation: 'neutral_vid' is not allowed; expected one of "
        "neutral_video | same_video | graph_path | none"]
    del params["dataset"]["root"]                          # a missing key: one line too
    params["kpd"]["normalisation"] = "none"
    proc = _stage(tmp_path, params, "stages.ingest")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: params.yaml: missing key 'dataset.root'"]


def test_other_errors_keep_their_traceback(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    proc = _stage(tmp_path, params, "stages.kpd", "face", "01")      # valid params, no manifest
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert "Actor_01.parquet: manifest not found" in proc.stderr

    def bug(argv):
        raise ZeroDivisionError("a bug")
    with pytest.raises(ZeroDivisionError):
        run_stage(bug)


def test_params_rewritten_by_pyyaml_safe_dump_fail_at_once_naming_the_key(tmp_path):
    """PyYAML's ``safe_dump`` leaves actors ``08``/``09`` bare; DVC (YAML 1.2) reads the numbers 8/9
    and would name the stages ``audio@8``: refused before any stage runs, in one line."""
    params = load_params(REPO / "params.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    assert "- 08\n" in bad.read_text()
    with pytest.raises(ParamsError) as err:
        load_params(bad)
    msg = str(err.value)
    assert len(msg.splitlines()) == 1 and "dataset.actors[7]" in msg
    assert "'08' (text)" in msg and "8 (a number)" in msg and '"08"' in msg
    proc = _stage(tmp_path, params, "stages.ingest")            # dump_params quotes: it loads
    assert "YAML 1.1" not in proc.stderr
    bad.write_text(yaml.safe_dump(params))
    proc = _stage_raw(tmp_path, "stages.ingest")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "dataset.actors[7]" in proc.stderr and "Traceback" not in proc.stderr


def _stage_raw(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("text,key", [("demo:\n  seed: yes\n", "demo.seed"),          # 1.1 bool, 1.2 text
                                      ("train:\n  lr: 1e-3\n", "train.lr"),            # 1.1 text, 1.2 float
                                      ("dataset:\n  actors: [01, 09]\n", "dataset.actors[1]")])
def test_values_the_two_yaml_dialects_read_differently_are_refused(tmp_path, text, key):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=re.escape(key) + r": YAML 1.1 reads .* but DVC's YAML 1.2 reads"):
        load_params(path)


def test_values_both_dialects_agree_on_load_and_round_trip(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text('dataset:\n  actors: ["01", "08"]\ndemo:\n  seed: 7\ntrain:\n  lr: 1.0e-3\n'
                    "  epochs: 3\n  label_smoothing: 0.1\n  device: auto\n")
    params = load_params(path)
    assert params["dataset"]["actors"] == ["01", "08"] and params["train"]["lr"] == 1e-3
    path.write_text(dump_params(params))
    assert load_params(path) == params
