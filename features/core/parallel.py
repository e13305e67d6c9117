"""Per-video parallelism: joblib with a tqdm progress bar, locally (loky) or on a Dask cluster."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from joblib import Parallel, delayed, parallel_config
from tqdm.auto import tqdm


@contextlib.contextmanager
def compute_backend(backend: str = "loky", scheduler_address: str = "") -> Iterator[None]:
    """Context for joblib calls: ``loky`` (local processes) or ``dask`` (a dask.distributed cluster).

    With ``dask`` a ``distributed.Client`` connects to ``scheduler_address`` (or starts a local
    cluster when it is empty) and joblib's dask backend sends each task to the cluster workers.
    """
    if backend == "loky":
        yield
        return
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("compute.backend: dask needs `pip install .[dask]`") from exc
    client = Client(scheduler_address) if scheduler_address else Client(processes=True)
    try:
        with parallel_config(backend="dask"):
            yield
    finally:
        client.close()


def in_folder(fn: Callable[[Any], Any], folder: str, item: Any) -> Any:
    """``fn(item)`` run with ``folder`` as the working folder (on a worker process).

    Stages pass paths relative to the repository root (the manifest's media paths under the
    default ``dataset.root``, ``data/openface/...``), so a worker, which starts in a folder of its
    own, first moves to the stage's folder: the repository must be at the same path on every
    worker (a shared file system). The folder is left set, not restored: a worker with several
    threads runs tasks of one stage at a time, which all want the same folder.
    """
    if os.getcwd() != folder:
        try:
            os.chdir(folder)
        except OSError as exc:
            raise RuntimeError(
                f"worker on {socket.gethostname()}: the stage's working folder {folder} is not "
                "reachable there; workers need the repository at the same path (shared file "
                f"system) ({exc})") from exc
    return fn(item)


def map_progress(fn: Callable[..., Any], items: Sequence[Any], jobs: int = 1, desc: str = "",
                 backend: str = "loky", scheduler_address: str = "",
                 prefer: str = "processes") -> list[Any]:
    """``[fn(item) for item in items]`` in parallel with a progress bar; results keep input order.

    ``jobs <= 1`` with the loky backend runs in-process (easier to debug, no pickling). With
    ``dask`` every task runs in this process's working folder (:func:`in_folder`).
    ``prefer="threads"`` runs local work in threads: for per-clip work that is short or spends its
    time outside the GIL (ffmpeg subprocesses, numpy, torch), starting worker processes that
    re-import the stack costs more than it saves. A Dask cluster always gets processes.
    """
    items = list(items)
    if jobs <= 1 and backend == "loky":
        return [fn(item) for item in tqdm(items, desc=desc, unit="clip")]
    if not (backend == "loky" and prefer == "threads"):
        # Dask workers start elsewhere, and loky reuses worker processes across calls made from
        # one interpreter (tests, notebooks) whose working folder may have changed since.
        fn = functools.partial(in_folder, fn, os.getcwd())
    with compute_backend(backend, scheduler_address):
        par = Parallel(n_jobs=jobs if backend == "loky" else -1, return_as="generator",
                       prefer=prefer if backend == "loky" else None)
        gen: Iterable[Any] = par(delayed(fn)(item) for item in items)
        return list(tqdm(gen, total=len(items), desc=desc, unit="clip"))


def compute_settings(params: dict[str, Any]) -> dict[str, Any]:
    """``jobs``, ``backend`` and ``scheduler_address`` from the params ``compute`` section."""
    c = params.get("compute", {})
    return {"jobs": int(c.get("jobs", 1)), "backend": c.get("backend", "loky"),
            "scheduler_address": c.get("scheduler_address", "") or ""}
