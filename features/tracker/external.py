"""The ``openface`` and ``precomputed`` track backends: OpenFace CSVs made elsewhere.

* ``openface``: runs a real OpenFace 2.x ``FeatureExtraction`` binary per video,
  ``FeatureExtraction -f <video> -out_dir <tmp> -2Dfp -3Dfp -pdmparams -pose -aus -gaze``
  (OpenFace's flag names, ``RecorderOpenFaceParameters``; naming output flags turns the others
  off, so no HOG, aligned faces or tracked video are written), then takes ``<tmp>/<video stem>.csv``,
  normalises the separators to ``","`` (values are kept byte for byte), validates it with
  :func:`features.tracks.openface.read_openface` and requires every block.
* ``precomputed``: imports ``<video id>.csv`` found at any depth under ``track.precomputed_dir``
  (the RAVDESS tracking release, an older OpenFace run, ...), validates it and normalises the
  separators the same way. Files lacking some blocks are imported as they are (the problems report
  says which blocks; the features that need them fail naming the block and the file).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from features.tracks.openface import (
    DATA_BLOCKS,
    OpenFaceError,
    OpenFaceTrack,
    normalise_csv_text,
    read_openface,
)

OPENFACE_FLAGS = ["-2Dfp", "-3Dfp", "-pdmparams", "-pose", "-aus", "-gaze"]
STDERR_TAIL = 1500  # characters of OpenFace's stderr quoted in an error


class OpenFaceBinaryError(RuntimeError):
    """The FeatureExtraction binary is missing, or failed on a video (message: video + stderr tail)."""


def find_openface(binary: str) -> str:
    """Absolute path of the FeatureExtraction binary (a path, or a name on PATH)."""
    if not binary:
        raise OpenFaceBinaryError("track.openface_bin is empty; set it to OpenFace's FeatureExtraction")
    p = Path(binary).expanduser()
    if p.is_file() and os.access(p, os.X_OK):
        return str(p.resolve())
    found = shutil.which(binary)
    if found:
        return found
    raise OpenFaceBinaryError(
        f"OpenFace FeatureExtraction not found: track.openface_bin = {binary!r} is neither an "
        f"executable file nor a command on PATH. Install OpenFace 2.x "
        f"(https://github.com/TadasBaltrusaitis/OpenFace) and set track.openface_bin to its "
        f"FeatureExtraction, or use track.backend: embedded (offline) or precomputed.")


def _tail(text: str) -> str:
    text = (text or "").strip()
    return text[-STDERR_TAIL:] if text else "(no output)"


def write_normalised(src: Path, dst: Path) -> None:
    """Copy an OpenFace CSV with ``","`` separators and LF line ends (values unchanged)."""
    text = src.read_text(errors="replace")
    Path(dst).write_text(normalise_csv_text(text), newline="\n")


def run_openface(binary: str, video: str | Path, out_csv: str | Path,
                 timeout_s: float | None = None) -> OpenFaceTrack:
    """Run FeatureExtraction on ``video``, write its normalised CSV to ``out_csv``, return it read.

    Raises OpenFaceBinaryError naming the video with the tail of OpenFace's stderr when the binary
    fails or writes no CSV, OpenFaceError when the CSV lacks blocks.
    """
    video, out_csv = Path(video), Path(out_csv)
    with tempfile.TemporaryDirectory(prefix=".openface-", dir=out_csv.parent) as tmp:
        cmd = [binary, "-f", str(video), "-out_dir", tmp] + OPENFACE_FLAGS
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                                  timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise OpenFaceBinaryError(f"{video}: FeatureExtraction timed out after {timeout_s} s; "
                                      f"stderr: {_tail(str(exc.stderr or ''))}") from exc
        except OSError as exc:
            raise OpenFaceBinaryError(f"{video}: cannot run {binary}: {exc}") from exc
        csv = Path(tmp) / f"{video.stem}.csv"
        if not csv.exists():
            found = sorted(Path(tmp).glob("*.csv"))
            csv = found[0] if len(found) == 1 else csv
        if proc.returncode != 0:
            raise OpenFaceBinaryError(f"{video}: FeatureExtraction failed (exit {proc.returncode}); "
                                      f"stderr: {_tail(proc.stderr or proc.stdout)}")
        if not csv.exists():
            raise OpenFaceBinaryError(f"{video}: FeatureExtraction wrote no CSV into -out_dir; "
                                      f"stderr: {_tail(proc.stderr or proc.stdout)}")
        write_normalised(csv, out_csv)
    track = read_openface(out_csv)
    try:
        track.require(*DATA_BLOCKS, feature="track.backend openface (all output flags were given)")
    except OpenFaceError:
        out_csv.unlink(missing_ok=True)
        raise
    return track


def index_csvs(root: str | Path) -> dict[str, list[Path]]:
    """``{file stem: [paths]}`` of every ``*.csv`` at any depth under ``root`` (sorted paths)."""
    root = Path(root)
    if not str(root) or not root.is_dir():
        raise FileNotFoundError(f"track.precomputed_dir = {str(root)!r} is not a folder")
    out: dict[str, list[Path]] = {}
    for p in sorted(root.rglob("*.csv")):
        if p.is_file():
            out.setdefault(p.stem, []).append(p)
    return out


def import_precomputed(src: str | Path, out_csv: str | Path) -> OpenFaceTrack:
    """Validate ``src`` (any reader variant) and copy it, normalised, to ``out_csv``."""
    track = read_openface(src)
    write_normalised(Path(src), Path(out_csv))
    return track
