"""The ``openface`` and ``precomputed`` track backends: OpenFace CSVs made elsewhere.

* ``openface``: runs a real OpenFace 2.x ``FeatureExtraction`` per video,
  ``<openface_bin> -f <video> -out_dir <tmp> -2Dfp -3Dfp -pdmparams -pose -aus -gaze <openface_args>``
  (OpenFace's flag names, ``RecorderOpenFaceParameters``; naming output flags turns the others
  off, so no HOG, aligned faces or tracked video are written), then takes ``<tmp>/<video stem>.csv``,
  normalises the separators to ``","`` (values are kept byte for byte), validates it with
  :func:`features.tracks.openface.read_openface` and requires every block.
  ``track.openface_bin`` is a path, a command on PATH, or a command prefix (a list, or a string
  split like a shell line: ``docker run --rm -v /data:/data openface FeatureExtraction``);
  ``track.openface_args`` adds OpenFace's own flags (``[-mloc, model/main_clnf_general.txt]`` for
  the CLNF landmark model when the CE-CLM patch experts are not installed, ``[-au_static]``...).
  A failure is reported with its cause as OpenFace prints it: OpenFace writes its errors to
  stdout and harmless warnings to stderr, so both are searched (:func:`failure_cause`).
* ``precomputed``: imports ``<video id>.csv`` found at any depth under ``track.precomputed_dir``
  (the RAVDESS tracking release, an older OpenFace run, ...), validates it and normalises the
  separators the same way. Files lacking some blocks are imported as they are (the problems report
  says which blocks; the features that need them fail naming the block and the file).
"""

from __future__ import annotations

import os
import shlex
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


# OpenFace's own messages (stdout) -> what is wrong and how to fix it
KNOWN_FAILURES = (
    ("Could not find CEN patch experts",
     "OpenFace's default landmark model (CE-CLM) needs the cen_patches_*.dat files, which this "
     "installation lacks: add `-mloc model/main_clnf_general.txt` to track.openface_args (the CLNF "
     "model shipped with OpenFace) or install the CE-CLM files (OpenFace wiki, 'Model download')"),
    ("Could not load the landmark detector",
     "FeatureExtraction could not load its landmark model: check the model/ folder beside the "
     "binary or name one with `-mloc <file>` in track.openface_args"),
    ("Could not find the face analysis module",
     "FeatureExtraction found no AU_predictors/ folder beside the binary: reinstall OpenFace's "
     "models or run it from its installation folder"),
    ("Couldn't open the AU prediction files",
     "an AU model file named in AU_predictors/ is missing: reinstall OpenFace's models"),
    ("Could not open", "FeatureExtraction could not open the input (corrupt or unsupported video?)"),
)


def openface_command(binary: str | list[str]) -> list[str]:
    """The command prefix of ``track.openface_bin``: a path or command name (even with spaces),
    a list, or a shell-style string such as ``docker run --rm img FeatureExtraction``; its first
    word must be an executable file or a command on PATH."""
    if isinstance(binary, (list, tuple)):
        cmd = [str(b) for b in binary]
    elif binary and Path(binary).expanduser().is_file():
        cmd = [str(binary)]
    else:
        cmd = shlex.split(binary or "")
    if not cmd:
        raise OpenFaceBinaryError("track.openface_bin is empty; set it to OpenFace's FeatureExtraction")
    p = Path(cmd[0]).expanduser()
    if p.is_file() and os.access(p, os.X_OK):
        return [str(p.resolve())] + cmd[1:]
    found = shutil.which(cmd[0])
    if found:
        return [found] + cmd[1:]
    raise OpenFaceBinaryError(
        f"OpenFace FeatureExtraction not found: track.openface_bin = {binary!r}: {cmd[0]!r} is "
        f"neither an executable file nor a command on PATH. Install OpenFace 2.x "
        f"(https://github.com/TadasBaltrusaitis/OpenFace) and set track.openface_bin to its "
        f"FeatureExtraction (or a command prefix that runs it), or use track.backend: embedded "
        f"(offline) or precomputed.")


def find_openface(binary: str | list[str]) -> list[str]:
    """The FeatureExtraction command prefix (see :func:`openface_command`)."""
    return openface_command(binary)


def failure_cause(stdout: str, stderr: str) -> str:
    """What went wrong in a failed FeatureExtraction run, from OpenFace's own messages: the known
    cause and its fix, else OpenFace's error lines, else the output's tail."""
    text = f"{stdout or ''}\n{stderr or ''}"
    for marker, why in KNOWN_FAILURES:
        if marker in text:
            lines = [ln.strip() for ln in text.splitlines()
                     if marker in ln or ln.strip().startswith("ERROR")]
            return f"{why} (OpenFace said: {' / '.join(dict.fromkeys(lines))[:400]})"
    errors = [ln.strip() for ln in text.splitlines() if "ERROR" in ln or "Could not" in ln]
    if errors:
        return "OpenFace said: " + " / ".join(errors)[:STDERR_TAIL]
    return f"stdout: {_tail(stdout)}; stderr: {_tail(stderr)}"


def _tail(text: str) -> str:
    text = (text or "").strip()
    return text[-STDERR_TAIL:] if text else "(no output)"


def write_normalised(src: Path, dst: Path) -> None:
    """Copy an OpenFace CSV with ``","`` separators and LF line ends (values unchanged)."""
    text = src.read_text(errors="replace")
    Path(dst).write_text(normalise_csv_text(text), newline="\n")


def run_openface(binary: str | list[str], video: str | Path, out_csv: str | Path,
                 timeout_s: float | None = None, extra_args: list[str] | None = None) -> OpenFaceTrack:
    """Run FeatureExtraction on ``video``, write its normalised CSV to ``out_csv``, return it read.

    ``binary`` is the command prefix (:func:`openface_command`), ``extra_args`` OpenFace flags
    appended to the command. Raises OpenFaceBinaryError naming the video and the cause
    (:func:`failure_cause`) when the binary fails or writes no CSV, OpenFaceError when the CSV
    lacks blocks.
    """
    video, out_csv = Path(video), Path(out_csv)
    prefix = [binary] if isinstance(binary, str) else list(binary)
    with tempfile.TemporaryDirectory(prefix=".openface-", dir=out_csv.parent) as tmp:
        cmd = prefix + ["-f", str(video), "-out_dir", tmp] + OPENFACE_FLAGS + list(extra_args or [])
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
            raise OpenFaceBinaryError(f"{video}: FeatureExtraction failed (exit {proc.returncode}): "
                                      f"{failure_cause(proc.stdout, proc.stderr)}")
        if not csv.exists():
            raise OpenFaceBinaryError(f"{video}: FeatureExtraction wrote no CSV into -out_dir: "
                                      f"{failure_cause(proc.stdout, proc.stderr)}")
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
