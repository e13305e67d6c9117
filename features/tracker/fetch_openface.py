"""Fetch OpenFace 2.2's AU models and PDM from OpenFace's official repository (needs the network).

    python -m features.tracker.fetch_openface                 # shows the licence, asks to accept
    python -m features.tracker.fetch_openface --accept-licence [--dest DIR] [--base-url URL]

The files are OpenFace's (Baltrusaitis et al., Carnegie Mellon University and University of
Cambridge) under its academic, non-commercial licence: the licence text is fetched and shown first,
and nothing is downloaded until it is accepted (``--accept-licence``, or ``yes`` at the prompt).
What is fetched, from ``lib/local/FaceAnalyser/AU_predictors/`` of the tag ``OpenFace_2.2.0``: the
two index files (dynamic and static model sets), the two AU lists they name, every model file those
lists name, the 68-point PDM and the triangulation (about 2.7 MB). They land in
``DEST/AU_predictors/`` (default ``~/.local/share/OpenFaceModels/2.2.0``, the folder the embedded
tracker looks in when ``track.openface_models`` is empty; see
:mod:`features.tracker.openface_models`). The download goes to a temporary folder beside ``DEST``,
is read back with the project's own reader (both model sets) and only then moved into place, so a
failed or interrupted fetch leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from features.core.atomic import replace_dir, temp_prefix
from features.tracker import openface_models

BASE_URL = "https://raw.githubusercontent.com/TadasBaltrusaitis/OpenFace/OpenFace_2.2.0/"
LICENCE = "OpenFace-license.txt"
AU_PATH = "lib/local/FaceAnalyser/AU_predictors/"
TIMEOUT_S = 60.0


class FetchError(RuntimeError):
    """A file could not be fetched (the message names the URL and why)."""


def fetch_bytes(url: str, timeout: float = TIMEOUT_S) -> bytes:
    """The body at ``url``; FetchError naming the URL on any HTTP or network failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:   # noqa: S310 (http/https only)
            return resp.read()
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"{url}: cannot fetch ({reason}); is the machine online?") from None


def _listed(index_text: str, key: str) -> str:
    for line in index_text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == key:
            return parts[1]
    raise FetchError(f"the index file has no '{key}' line")


def fetch_models(dest: Path, base_url: str = BASE_URL, log=print) -> Path:
    """Download both model sets into ``dest/AU_predictors`` (atomically); returns that folder."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    dest = Path(dest).expanduser()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / (temp_prefix(dest) + "-fetch")
    shutil.rmtree(tmp, ignore_errors=True)
    au = tmp / "AU_predictors"
    au.mkdir(parents=True)
    try:
        names: list[str] = []
        for index in openface_models.INDEX.values():
            text = fetch_bytes(base + AU_PATH + index).decode()
            (au / index).write_text(text)
            for key in ("PDM", "Triangulation", "AUPredictor"):
                name = _listed(text, key)
                if name not in names:
                    names.append(name)
        for name in list(names):
            if name.endswith(".txt") and name.startswith("AU_"):
                body = fetch_bytes(base + AU_PATH + name)
                (au / name).write_bytes(body)
                names.extend(line.split()[0] for line in body.decode().splitlines() if line.split())
        todo = [n for n in dict.fromkeys(names) if not (au / n).exists()]
        for k, name in enumerate(todo, 1):
            log(f"[{k}/{len(todo)}] {name}")
            (au / name).parent.mkdir(parents=True, exist_ok=True)
            (au / name).write_bytes(fetch_bytes(base + AU_PATH + name))
        for model_set in openface_models.INDEX:                  # read back before moving in place
            openface_models.load.cache_clear()
            openface_models.load(au, model_set)
        replace_dir(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        openface_models.load.cache_clear()
    return dest / "AU_predictors"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m features.tracker.fetch_openface",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--dest", default=str(openface_models.USER_DIR),
                    help=f"folder to write AU_predictors/ into (default {openface_models.USER_DIR})")
    ap.add_argument("--base-url", default=BASE_URL, help="repository root to fetch from")
    ap.add_argument("--accept-licence", action="store_true",
                    help="accept OpenFace's academic, non-commercial licence without the prompt")
    args = ap.parse_args(argv)
    base = args.base_url if args.base_url.endswith("/") else args.base_url + "/"
    try:
        licence = fetch_bytes(base + LICENCE).decode(errors="replace")
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(licence.strip() + "\n")
    print("The files are OpenFace's, under the licence above (academic, non-commercial use).")
    if not args.accept_licence:
        if not sys.stdin.isatty():
            print("error: not accepted; rerun with --accept-licence to accept it", file=sys.stderr)
            return 1
        if input("Accept the licence and download? [yes/no] ").strip().lower() not in ("y", "yes"):
            print("not accepted: nothing downloaded")
            return 1
    try:
        out = fetch_models(Path(args.dest), base)
    except (FetchError, openface_models.OpenFaceModelError) as exc:
        print(f"error: {exc} (nothing was written to {args.dest})", file=sys.stderr)
        return 1
    print(f"OpenFace models in {out}; the embedded tracker uses them when track.openface_models is "
          f"empty (or set track.openface_models: {Path(args.dest).expanduser()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
