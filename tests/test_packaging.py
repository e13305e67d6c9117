"""The wheel holds every module and asset: packaging cannot forget a package (a hand-written list
once left out ``features.predict``, so a non-editable install could not import it)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import copy_project

REPO = Path(__file__).resolve().parents[1]


def test_wheel_contains_every_module_and_asset(tmp_path):
    src = copy_project(tmp_path / "src")          # a clean copy: no stale build/ folder to hide a gap
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist")], check=True, cwd=tmp_path)
    [wheel] = (tmp_path / "dist").glob("hmd_emotion-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {p.relative_to(REPO).as_posix() for top in ("features", "models", "stages")
                for p in (REPO / top).rglob("*.py") if "__pycache__" not in p.parts}
    expected |= {p.relative_to(REPO).as_posix() for p in (REPO / "features" / "assets").rglob("*")
                 if p.is_file()}
    assert "features/predict/batch.py" in expected and "features/assets/astronaut.png" in expected
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel: {missing}"
    assert not [n for n in names if n.startswith(("tests/", "bench/", "data/"))]
