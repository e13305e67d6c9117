"""Atomic file output: write to a temporary name in the same folder, rename on success."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def temp_prefix(final: str | Path) -> str:
    """Name prefix of the temporary siblings of ``final``: ``.<name>.tmp-<pid>``.

    The writer's process id in the name lets :func:`remove_stale_temps` tell the leftovers of a
    killed run (pid no longer running) from the temporary file of a writer still at work.
    """
    return f".{Path(final).name}.tmp-{os.getpid()}"


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OverflowError:
        return False
    return True


def remove_stale_temps(final: str | Path) -> list[Path]:
    """Delete temporary siblings of ``final`` (``.<name>.tmp-<pid>...``, files or folders) whose
    writer process is gone, i.e. what a run killed with SIGKILL left behind; returns them.

    Without this, every killed run would leave one more hidden file beside its output, and a
    hidden file inside a folder that a DVC stage depends on (``data/features`` for training)
    changes that dependency's hash. Process ids are those of this host: the stages write their
    outputs from the stage process, never from remote workers.
    """
    final = Path(final)
    if not final.parent.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(final.name)}\.tmp-(\d+)(?:-|$)")
    removed = []
    for p in final.parent.glob(f".{glob.escape(final.name)}.tmp-*"):
        m = pattern.match(p.name)
        if m is None or _pid_running(int(m.group(1))):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_path(final: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` if the block succeeds.

    On any exception the temporary file (or folder) is removed, so a reader never sees a
    half-written output under the final name. ``os.replace`` is atomic on POSIX. A process
    killed outright (SIGKILL, out of memory) cannot clean up: its temporary file
    (``.<name>.tmp-<pid>-<random><suffix>``) is removed by the next write of the same output.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final)
    fd, tmp = tempfile.mkstemp(prefix=f"{temp_prefix(final)}-", suffix=suffix or ".tmp",
                               dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()
    try:
        yield tmp_path
        if not tmp_path.exists():
            raise FileNotFoundError(f"{final}: nothing was written to the temporary file")
        if final.is_dir() and not tmp_path.is_dir():
            shutil.rmtree(final)
        os.replace(tmp_path, final)
    except BaseException:
        if tmp_path.is_dir():
            shutil.rmtree(tmp_path, ignore_errors=True)
        else:
            tmp_path.unlink(missing_ok=True)
        raise


def replace_dir(tmp_dir: Path, final: Path) -> None:
    """Move a fully written folder onto ``final`` (removing the old one first)."""
    final = Path(final)
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp_dir, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_dir, final)
