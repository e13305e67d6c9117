"""The audio-only (LMS, TIM-Net) grid on the real RAVDESS speech audio, unattended.

    python bench/audio_grid.py all --data ~/Audio_Speech_Actors_01-24 [--workdir /tmp/ravdess-grid]
                                   [--recipe paper|improved | --only paper,bn0.1 [--folds 0,1,2]]
                                   [-j 2] [--markdown]

Subcommands (``all`` runs prepare, queue, run and table in turn; ``aac`` runs alone):

* ``aac``: ``--data SRC --out DST [--bitrate 128k]``: an AAC round trip of every wav of SRC
  into DST (same names), to prepare a second work folder from (amendment 9 in the docs);

* ``prepare``: clones this repository (its committed HEAD) into ``--workdir``, points
  ``params.yaml`` at the audio-only release (``dataset.media: audio``, no demo, no video stages),
  sets the paper's LMS settings as the base (every ``train`` hyperparameter ``null``,
  ``train.modalities: [lms]``, ``train.jobs`` = ``--jobs``), runs ``dvc repro`` of the ingest and
  audio stages and commits the result there, so every experiment starts from cached features;
* ``queue``: one ``dvc exp run --queue -n NAME`` per entry of :data:`GRID` (``--only`` picks some);
* ``run``: ``dvc queue start -j JOBS`` and wait: JOBS experiments at a time, each training with
  ``cores // train.jobs`` torch threads (one each on a 2-core machine);
* ``table``: one row per experiment: each fold's accuracy, mean, 95 % CI half-width, UAR,
  macro-F1 and, where ``train.seeds`` > 1, the spread over seeds of the 5-fold mean; experiments
  that differ only in their seeds (``std-actor`` + ``actor-seeds12``) also get one pooled row of
  all their single models, and one of their averaged posteriors (what ``train.seeds`` = all
  those seeds gives in one run), read from the cached test predictions.

The data (CC BY-NC-SA 4.0) and everything computed from it stay in ``--workdir``, outside this
repository. ``train.device`` stays ``auto``: the same command uses a GPU where there is one.
The decision rules that pick the recipes from this table, and every run so far, are in
docs/audio-recipes.md.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from models.metrics import fold_scores, mean_ci  # noqa: E402  (the project's scores)

PREPARED = "audio-only base (bench/audio_grid.py prepare)"   # the commit message prepare writes

# The paper's settings (Table C.1 via `null`): the base of every experiment.
BASE = {
    "enabled.demo": [], "enabled.video": [], "enabled.crops": [], "dataset.media": "audio",
    "train.modalities": ["lms"], "train.epochs": None, "train.lr": None,
    "train.batch_size": None, "train.filters": None, "train.scales": None,
    "train.layers": None, "train.kernel_size": None, "train.dropout": None,
    "train.bn_momentum": None,
}

AUG = ["train.augment.time_masks=2", "train.augment.freq_masks=2"]
# Houmard's thesis, Table E.1 (preliminary results): "TIM-Net on LMS with 32 coefficients, 2048
# window length, 512 hop length, max frequency of 24000 and 2.083 seconds of audio": 70 % test.
# 100 000 samples / 512 = 195 frames (2.2x the training time of the 88-frame LMS).
THESIS_E1 = ["features.audio.samples=100000", "features.lms.n_mels=32", "features.lms.n_fft=2048",
             "features.lms.hop=512", "features.lms.f_max=24000"]
# name -> the -S overrides on top of BASE, in the order they are queued (most informative first).
GRID: dict[str, list[str]] = {
    "paper": [],
    "std-actor": ["train.standardise=actor"],
    "thesis-e1": THESIS_E1,
    "bn0.1": ["train.bn_momentum=0.1"],
    "L2": ["train.layers=2"],
    "seed1-f0": ["train.seed=1", "train.folds=[0]"],
    "seed2-f0": ["train.seed=2", "train.folds=[0]"],
    "mels64": ["features.lms.n_mels=64"],
    "actor-mels64": ["train.standardise=actor", "features.lms.n_mels=64"],
    "std-none": ["train.standardise=none"],
    "topdb80": ["features.lms.top_db=80"],
    "db-max": ["features.lms.db_ref=max"],
    "db-max-80": ["features.lms.db_ref=max", "features.lms.top_db=80"],
    "sel-last": ["train.selection=last"],
    "specaug": AUG,
    "mixup": ["train.augment.mixup=0.2"],
    "seeds3": ["train.seeds=3"],
    "actor-seeds3": ["train.standardise=actor", "train.seeds=3"],
    "actor-seeds12": ["train.standardise=actor", "train.seed=1", "train.seeds=2"],
    "actor-topdb80": ["train.standardise=actor", "features.lms.top_db=80"],
    "actor-topdb80-seed1": ["train.standardise=actor", "features.lms.top_db=80", "train.seed=1"],
    "actor-topdb80-seed2": ["train.standardise=actor", "features.lms.top_db=80", "train.seed=2"],
    # The paper recipe by rule 2: both choices that moved, together; seeds 1 and 2 (amendment 6).
    "topdb80-std-none": ["features.lms.top_db=80", "train.standardise=none"],
    "topdb80-std-none-seed1": ["features.lms.top_db=80", "train.standardise=none", "train.seed=1"],
    "topdb80-std-none-seed2": ["features.lms.top_db=80", "train.standardise=none", "train.seed=2"],
    # The improved recipe by rule 3 (amendment 6): seeds 0 and 1 of the paper recipe in one run,
    # test posteriors averaged; the same models as the two runs above (tests/models/test_train.py).
    "topdb80-std-none-seeds2": ["features.lms.top_db=80", "train.standardise=none", "train.seeds=2"],
    # Amendment 7: masks only (no mixup), twice the epochs; on a standardised base (a mask writes
    # 0, the mean only after standardisation). seed3: the futility stop's fallback.
    "actor-topdb80-aug200": ["train.standardise=actor", "features.lms.top_db=80", *AUG,
                             "train.epochs=200"],
    "topdb80-std-none-seed3": ["features.lms.top_db=80", "train.standardise=none", "train.seed=3"],
    "actor-aug-300": ["train.standardise=actor", *AUG, "train.epochs=300"],
    "actor-lms-mfcc": ["train.standardise=actor", "train.modalities=[lms,mfcc]"],
    # Amendment 9: the papers' "multimodal with LMS" row on LMS (80 dB floor) + MFCC.
    "actor-topdb80-lms-mfcc": ["train.standardise=actor", "features.lms.top_db=80",
                               "train.modalities=[lms,mfcc]"],
}

# The two documented recipes (docs/audio-recipes.md, "Real-audio grid: results"): the grid
# experiment each one is, chosen by rules 2 and 3 (with amendments 5 and 6) written before the runs.
RECIPES = {"paper": "topdb80-std-none", "improved": "topdb80-std-none-seeds2"}


def sh(cmd: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd``, echoing it; a failure stops the script with the command named."""
    print("$ " + " ".join(cmd), flush=True)
    out = subprocess.run(cmd, cwd=cwd, **kw)
    if out.returncode:
        raise SystemExit(f"audio_grid: `{' '.join(cmd)}` failed in {cwd} (exit {out.returncode})")
    return out


def set_key(params: dict, dotted: str, value) -> None:
    node = params
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value


def dataset_root(work: Path) -> str | None:
    """``dataset.root`` of the params.yaml in ``work`` (None without one)."""
    sys.path.insert(0, str(REPO))
    from features.core.config import read_yaml

    params = work / "params.yaml"
    return read_yaml(params).get("dataset", {}).get("root") if params.exists() else None


def speech_wavs(data: Path) -> list[Path]:
    """The ``Actor_XX/03-01-*.wav`` files of ``data``, sorted; none is an error naming ``data``."""
    wavs = sorted(data.glob("Actor_*/03-01-*.wav"))
    if not wavs:
        raise SystemExit(f"audio_grid: {data} has no Actor_XX/03-01-*.wav (the audio-only speech "
                         f"release, e.g. Audio_Speech_Actors_01-24 unzipped)")
    return wavs


def prepare(data: Path, work: Path, jobs: int) -> None:
    """Clone, write the audio-only base params, compute the features and commit them (module doc)."""
    speech_wavs(data)
    if work.exists():
        log = subprocess.run(["git", "log", "--format=%s"], cwd=work, capture_output=True,
                             text=True).stdout
        if PREPARED in log and dataset_root(work) == str(data.resolve()):
            print(f"audio_grid: {work} already prepared for {data}; reusing it", flush=True)
            return
        raise SystemExit(f"audio_grid: {work} exists and is not a prepared grid of {data}; "
                         f"remove it or pass another --workdir")
    sh(["git", "clone", "--quiet", str(REPO), str(work)], REPO)
    sys.path.insert(0, str(REPO))
    from features.core.config import dump_params, read_yaml

    params = read_yaml(work / "params.yaml")
    for key, value in {**BASE, "dataset.root": str(data.resolve()), "train.jobs": jobs,
                       "compute.jobs": os.cpu_count() or 1}.items():
        set_key(params, key, value)
    (work / "params.yaml").write_text(dump_params(params))
    sh(["dvc", "repro", "ingest", "audio"], work)
    sh(["git", "add", "-A"], work)
    sh(["git", "-c", "user.name=audio-grid", "-c", "user.email=audio-grid@localhost", "commit",
        "--quiet", "-m", "audio-only base (bench/audio_grid.py prepare)"], work)


def aac_round_trip(wav: Path, out: Path, bitrate: str = "128k") -> None:
    """Write ``out``: ``wav`` encoded with ffmpeg's native AAC at ``bitrate``, decoded back to
    16-bit PCM wav at the file's own rate and channels (amendment 9: the audio of the
    audio-visual ``.mp4`` release is AAC, 48 kHz; its bitrate is not known here).

    The encoder's priming samples are trimmed by the decoder (the ``.m4a`` edit list), so the
    round trip keeps the clip's timing. Written to temporary names, then renamed: a failure
    leaves no half-written ``out``, and names the file and ffmpeg's message.
    """
    from features.media.video import ffmpeg_exe

    out.parent.mkdir(parents=True, exist_ok=True)
    m4a, part = out.with_suffix(".m4a.part"), out.with_suffix(".wav.part")
    steps = [["-i", str(wav), "-c:a", "aac", "-b:a", bitrate, "-f", "mp4", str(m4a)],
             ["-i", str(m4a), "-c:a", "pcm_s16le", "-f", "wav", str(part)]]
    try:
        for step in steps:
            done = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *step],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"audio_grid aac: {wav}: ffmpeg failed: {done.stderr.strip()}")
        os.replace(part, out)
    finally:
        m4a.unlink(missing_ok=True)
        part.unlink(missing_ok=True)


def aac_copy(data: Path, out: Path, bitrate: str, jobs: int) -> None:
    """An AAC round trip (:func:`aac_round_trip`) of every ``Actor_XX/03-01-*.wav`` of ``data``
    under ``out``, same relative names; files already there are kept (each is written whole)."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    wavs = speech_wavs(data)
    todo = [w for w in wavs if not (out / w.relative_to(data)).exists()]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(tqdm(pool.map(lambda w: aac_round_trip(w, out / w.relative_to(data), bitrate), todo),
                  total=len(todo), desc=f"AAC {bitrate} round trip", unit="file"))
    print(f"audio_grid aac: {len(wavs)} files in {out} ({len(wavs) - len(todo)} were there)")


def queue(work: Path, names: list[str], folds: str = "", jobs: int = 2) -> None:
    """Queue each experiment; ``folds`` ("0,1,2") runs only those test folds, named ``NAME@f012``.

    Splitting an experiment by folds lets a long one share two workers (the folds are
    independent trainings); the table shows each part with its fold numbers.
    """
    done = experiments(work)
    for name in names:
        sets = [a for s in GRID[name] for a in ("-S", s)] + ["-S", f"train.jobs={jobs}"]
        if folds:
            sets += ["-S", f"train.folds=[{folds}]"]
            name = f"{name}@f{folds.replace(',', '')}"
        if name in done:
            print(f"audio_grid: {name} already ran in {work}; its row is in the table", flush=True)
            continue
        sh(["dvc", "exp", "run", "--queue", "-n", name, *sets], work)


def run(work: Path, jobs: int, poll: float = 60.0) -> None:
    """``dvc queue start -j JOBS``, then wait until nothing is queued or running.

    Not ``dvc exp run --run-all``: that holds the repository lock until the queue is empty, so
    nothing could be queued while it runs; with ``queue start`` more experiments can be added
    (``queue --only ...``) while the workers train.
    """
    sh(["dvc", "queue", "start", "-j", str(jobs)], work)
    stalled = 0
    while True:
        time.sleep(poll)
        out = subprocess.run(["dvc", "queue", "status"], cwd=work, capture_output=True,
                             text=True).stdout
        states = [line.split()[-1] for line in out.splitlines()
                  if line.split() and line.split()[-1] in ("Queued", "Running", "Success", "Failed")]
        pending = sum(s in ("Queued", "Running") for s in states)
        print(f"{time.strftime('%H:%M')} queue: " + ", ".join(
            f"{states.count(s)} {s.lower()}" for s in sorted(set(states))), flush=True)
        if not pending:
            break
        # Workers can stop with tasks still queued (seen 2026-12-07: after a `dvc queue kill` of
        # an earlier session, new workers logged "Got shutdown from remote" and each ended after
        # one task). Two polls with fewer than JOBS running while some are queued start the
        # missing ones (`dvc queue start` skips the workers that are alive).
        queued = "Queued" in states and states.count("Running") < jobs
        stalled = stalled + 1 if queued else 0
        if stalled >= 2:
            print("audio_grid: tasks queued but a worker is missing; starting the workers again",
                  flush=True)
            sh(["dvc", "queue", "start", "-j", str(jobs)], work)
            stalled = 0


def experiments(work: Path) -> dict[str, str]:
    """Experiment name -> commit, from the refs ``dvc exp`` writes (``refs/exps/../NAME``)."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname)",
                           "refs/exps"], cwd=work, capture_output=True, text=True, check=True)
    # experiments are refs/exps/<2 hex>/<38 hex>/<name>; queue stashes (refs/exps/celery/stash) are not
    return {ref.split("/")[4]: sha for ref, sha in
            (line.split() for line in refs.stdout.splitlines())
            if len(ref.split("/")) == 5 and ref.split("/")[2] != "celery"}


def show(work: Path, sha: str, path: str):
    out = subprocess.run(["git", "show", f"{sha}:{path}"], cwd=work, capture_output=True,
                         text=True)
    return json.loads(out.stdout) if out.returncode == 0 else None


@functools.lru_cache(maxsize=64)
def lock_stages(work: Path, sha: str) -> dict:
    """The ``stages`` of an experiment's committed ``dvc.lock`` ({} if it has none)."""
    out = subprocess.run(["git", "show", f"{sha}:dvc.lock"], cwd=work, capture_output=True,
                         text=True)
    if out.returncode != 0:
        return {}
    lock = yaml.load(out.stdout, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return (lock or {}).get("stages", {})


def predictions(work: Path, sha: str, fold: int) -> pd.DataFrame | None:
    """One fold's test predictions (``data/predictions/fold_K.parquet``: video_id, label, p_<class>)
    of an experiment, read from the DVC cache by the md5 its committed ``dvc.lock`` records;
    ``None`` where the lock or the cached file is missing (e.g. a garbage-collected cache)."""
    wanted = f"data/predictions/fold_{fold}.parquet"
    for stage in lock_stages(work, sha).values():
        for o in stage.get("outs", []):
            if o.get("path") == wanted and o.get("md5"):
                path = work / ".dvc" / "cache" / "files" / "md5" / o["md5"][:2] / o["md5"][2:]
                return pd.read_parquet(path) if path.is_file() else None
    return None


def ensemble(work: Path, parts: list[dict]) -> dict | None:
    """Per fold, the scores of the mean test posteriors of every model in ``parts`` (a part with
    N seeds counts N times: its predictions are already its N models' mean). That is what
    ``train.seeds`` = all those seeds reports in one run. ``None`` if a prediction is missing."""
    folds, uar, f1 = [], [], []
    for k in parts[0]["fold_ids"]:
        frames = [predictions(work, r["shas"][k], k) for r in parts]
        if any(f is None for f in frames):
            return None
        frames = [f.sort_values("video_id").reset_index(drop=True) for f in frames]
        if any(not f["video_id"].equals(frames[0]["video_id"]) for f in frames):
            raise SystemExit(f"audio_grid: fold {k}: the seed pool's experiments tested different clips")
        cols = [c for c in frames[0].columns if c.startswith("p_")]
        weights = [len(r["seed_values"]) for r in parts]
        post = sum(w * f[cols].to_numpy() for w, f in zip(weights, frames)) / sum(weights)
        sc = fold_scores(frames[0]["label"].to_numpy(), post.argmax(axis=1), len(cols))
        folds.append(sc["accuracy"] * 100)
        uar.append(sc["uar"] * 100)
        f1.append(sc["macro_f1"] * 100)
    return {"folds": folds, "mean": float(np.mean(folds)), "ci": mean_ci(folds)["ci95_half"],
            "uar": float(np.mean(uar)), "f1": float(np.mean(f1))}


def row(work: Path, name: str, sha: str) -> dict:
    """Scores of one experiment from its committed reports (scores.json, fold_K.json)."""
    scores = show(work, sha, "reports/scores.json")
    folds = sorted((k for k in scores["accuracy"] if k.startswith("fold_")),
                   key=lambda k: int(k.split("_")[1]))
    seeds = [show(work, sha, f"reports/train/{f}.json")["seeds"] for f in folds]
    per_seed = [s["accuracy"]["per_seed"] for s in seeds]
    seed_means = np.mean(np.array(per_seed), axis=0) if len(per_seed[0]) > 1 else None
    return {"name": name, "folds": [scores["accuracy"][f] * 100 for f in folds],
            "fold_ids": [int(f.split("_")[1]) for f in folds],
            "shas": {int(f.split("_")[1]): sha for f in folds},
            "uar_folds": [scores["uar"][f] * 100 for f in folds],
            "f1_folds": [scores["macro_f1"][f] * 100 for f in folds],
            "mean": scores["accuracy"]["mean"] * 100,
            "ci": (scores["accuracy"].get("ci95_half") or float("nan")) * 100,
            "uar": scores["uar"]["mean"] * 100,
            "f1": scores["macro_f1"]["mean"] * 100,
            "seeds": None if seed_means is None else
            (len(seed_means), float(seed_means.mean() * 100), float(seed_means.std(ddof=1) * 100)),
            "seed_values": list(seeds[0].get("values", [])),
            "per_seed": {m: [s[m]["per_seed"] for s in seeds] for m in ("accuracy", "uar", "macro_f1")}}


def base(name: str) -> str:
    """The grid entry of an experiment name: ``NAME``, ``NAME@f012`` or ``NAME (pooled ...)``."""
    return name.split("@")[0].split(" (")[0]


def pooled(parts: list[dict]) -> dict | None:
    """One row from the ``NAME@f...`` parts of a split experiment, when their folds are disjoint
    and together are every fold: each fold's scores, the mean and t-interval over them."""
    ids = [k for r in parts for k in r["fold_ids"]]
    if len(parts) < 2 or len(ids) != len(set(ids)) or sorted(ids) != list(range(len(ids))):
        return None
    by_fold = sorted((k, i, r) for r in parts for i, k in enumerate(r["fold_ids"]))
    acc = [r["folds"][i] for _, i, r in by_fold]
    name = parts[0]["name"].split("@")[0]
    return {"name": f"{name} (pooled {' + '.join(r['name'].split('@')[1] for r in parts)})",
            "folds": acc, "fold_ids": [k for k, _, _ in by_fold], "mean": mean_ci(acc)["mean"],
            "shas": {k: r["shas"][k] for k, _, r in by_fold},
            "ci": mean_ci(acc)["ci95_half"],
            "uar": mean_ci([r["uar_folds"][i] for _, i, r in by_fold])["mean"],
            "f1": mean_ci([r["f1_folds"][i] for _, i, r in by_fold])["mean"], "seeds": None,
            "seed_values": parts[0]["seed_values"],
            "per_seed": {m: [r["per_seed"][m][i] for _, i, r in by_fold]
                         for m in ("accuracy", "uar", "macro_f1")}}


def seed_pools(rows: list[dict], work: Path | None = None) -> list[dict]:
    """One row per group of whole-fold experiments whose overrides differ only in ``train.seed`` /
    ``train.seeds`` and whose seeds are disjoint (e.g. ``std-actor`` + ``actor-seeds12`` = seeds
    0, 1, 2): per fold the mean single-model score over all their seeds, and the sample sd over
    seeds of the 5-fold mean (the seed spread of one recipe, gathered from several runs). With
    ``work``, a second row scores their averaged posteriors (:func:`ensemble`), where the cached
    predictions are there."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if "@" in r["name"] or base(r["name"]) not in GRID:     # split parts (their pooled row counts)
            continue
        key = tuple(sorted(o for o in GRID[base(r["name"])] if not o.startswith("train.seed")))
        groups.setdefault(key, []).append(r)
    out = []
    for key, parts in groups.items():
        seeds = [v for r in parts for v in r["seed_values"]]
        if len(parts) < 2 or len(seeds) != len(set(seeds)) or \
                len({tuple(r["fold_ids"]) for r in parts}) != 1:
            continue
        parts = sorted(parts, key=lambda r: min(r["seed_values"]))
        ids = parts[0]["fold_ids"]
        # metric -> (folds, seeds) of single-model scores in %
        per = {m: np.concatenate([np.array(r["per_seed"][m]) for r in parts], axis=1) * 100
               for m in ("accuracy", "uar", "macro_f1")}
        fold_mean = per["accuracy"].mean(axis=1)
        run_means = per["accuracy"].mean(axis=0)
        out.append({"name": " + ".join(r["name"] for r in parts)
                    + f" (seeds {', '.join(map(str, sorted(seeds)))}, single models)",
                    "overrides": (" ".join(key) or "(base)") + " (train.seed varies)",
                    "folds": list(fold_mean), "fold_ids": ids, "mean": float(fold_mean.mean()),
                    "ci": mean_ci(list(fold_mean))["ci95_half"],
                    "uar": float(per["uar"].mean()), "f1": float(per["macro_f1"].mean()),
                    "seeds": (len(seeds), float(run_means.mean()), float(run_means.std(ddof=1)))})
        ens = ensemble(work, parts) if work is not None else None
        if ens is not None:
            out.append({**ens, "name": " + ".join(r["name"] for r in parts)
                        + f" (seeds {', '.join(map(str, sorted(seeds)))}, posterior average)",
                        "overrides": " ".join([*key, f"train.seeds={len(seeds)}"])
                        + (f" train.seed={min(seeds)}" if min(seeds) else ""),
                        "fold_ids": ids, "seeds": None})
            out += subset_ensembles(work, parts, key)
    return out


def subset_ensembles(work: Path, parts: list[dict], key: tuple) -> list[dict]:
    """For each size k between 2 and the pool's seeds - 1, the posterior averages of every k-seed
    subset of the pool's runs (a run with several seeds counts whole): per fold their mean, and
    the mean ± sample sd (min-max) of their 5-fold means. What a ``train.seeds=k`` user can
    expect, rather than the best pair found on these folds."""
    n_seeds = sum(len(r["seed_values"]) for r in parts)
    out = []
    for k in range(2, n_seeds):
        subsets = [c for n in range(1, len(parts) + 1) for c in itertools.combinations(parts, n)
                   if sum(len(r["seed_values"]) for r in c) == k]
        scores = [ensemble(work, list(c)) for c in subsets]
        if len(subsets) < 2 or any(s is None for s in scores):
            continue
        fold_mean = np.mean([s["folds"] for s in scores], axis=0)
        means = [s["mean"] for s in scores]
        out.append({"name": " + ".join(r["name"] for r in parts) + f" (every {k} of seeds "
                    f"{', '.join(str(v) for r in parts for v in r['seed_values'])}, posterior average)",
                    "overrides": " ".join([*key, f"train.seeds={k}"]) + " (train.seed varies)",
                    "folds": list(fold_mean), "fold_ids": parts[0]["fold_ids"],
                    "mean": float(np.mean(means)), "ci": mean_ci(list(fold_mean))["ci95_half"],
                    "uar": float(np.mean([s["uar"] for s in scores])),
                    "f1": float(np.mean([s["f1"] for s in scores])), "seeds": None,
                    "spread": f"{len(scores)} ensembles: {np.mean(means):.1f} ± "
                              f"{np.std(means, ddof=1):.1f} ({min(means):.1f}-{max(means):.1f})"})
    return out


def table(work: Path, markdown: bool) -> list[dict]:
    rows = [row(work, n, s) for n, s in experiments(work).items()]
    split: dict[str, list[dict]] = {}
    for r in rows:
        if "@" in r["name"]:
            split.setdefault(r["name"].split("@")[0], []).append(r)
    rows += [p for p in (pooled(parts) for parts in split.values()) if p is not None]
    rows += seed_pools(rows, work)
    order = {n: i for i, n in enumerate(GRID)}
    rows.sort(key=lambda r: (order.get(base(r["name"]), len(order)), r["name"]))
    head = ["experiment", "overrides", "folds 0-4 (accuracy %)", "mean", "95 % CI", "UAR",
            "macro-F1", "seeds: mean of 5-fold means ± sample sd"]
    lines = []
    for r in rows:
        seeds = r.get("spread") or ("-" if r["seeds"] is None else
                                    f"{r['seeds'][0]} seeds: {r['seeds'][1]:.1f} ± {r['seeds'][2]:.1f}")
        folds = " / ".join(f"{a:.1f}" for a in r["folds"]) if r["fold_ids"] == [0, 1, 2, 3, 4] \
            else " / ".join(f"{k}: {a:.1f}" for k, a in zip(r["fold_ids"], r["folds"]))
        overrides = r.get("overrides") or " ".join(GRID.get(base(r["name"]), ["?"])) or "(base)"
        lines.append([r["name"], overrides,
                      folds, f"{r['mean']:.1f}",
                      f"± {r['ci']:.1f}", f"{r['uar']:.1f}", f"{r['f1']:.1f}", seeds])
    if markdown:
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(x) for x in col) for col in zip(head, *lines)]
        for line in [head, *lines]:
            print("  ".join(x.ljust(w) for x, w in zip(line, widths)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["aac", "prepare", "queue", "run", "table", "all"])
    ap.add_argument("--data", type=Path, help="folder of Actor_XX/03-01-*.wav (prepare, all)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/ravdess-grid"))
    ap.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(GRID)}")
    ap.add_argument("--recipe", choices=sorted(RECIPES),
                    help="one documented recipe: " + ", ".join(f"{k} = {v}" for k, v in RECIPES.items()))
    ap.add_argument("-j", "--jobs", type=int, default=None,
                    help="experiments at a time (and train.jobs, so torch threads = cores // "
                         "jobs); default: 2 (or the number of experiments, if 1) on 2+ cores")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--out", type=Path, help="aac: folder for the round-trip copies of --data")
    ap.add_argument("--bitrate", default="128k", help="aac: AAC bitrate (default 128k)")
    ap.add_argument("--folds", default="", help="queue: only these test folds, e.g. 0,1,2 "
                    "(experiment named NAME@f012)")
    args = ap.parse_args()
    names = [RECIPES[args.recipe]] if args.recipe else \
        [n for n in args.only.split(",") if n] or list(GRID)
    unknown = sorted(set(names) - set(GRID))
    if unknown:
        raise SystemExit(f"audio_grid: unknown experiments {unknown}; known: {', '.join(GRID)}")
    # One experiment alone gets every core: measured 2026-12-07 on this 2-core machine, one
    # 2-thread training ran 3.7-3.9 s per epoch and two 1-thread ones side by side 6.6-7.0 s
    # each, so splitting one recipe by folds over two workers would not be faster (3 + 2 folds).
    jobs = args.jobs or max(1, min(2, os.cpu_count() or 1, len(names)))
    if args.command == "aac":
        if args.data is None or args.out is None:
            raise SystemExit("audio_grid: aac needs --data (folder of Actor_XX/*.wav) and --out")
        aac_copy(args.data, args.out, args.bitrate, jobs)
        return
    if args.command in ("prepare", "all"):
        if args.data is None:
            raise SystemExit("audio_grid: prepare needs --data (folder of Actor_XX/*.wav)")
        prepare(args.data, args.workdir, jobs)
    if args.command in ("queue", "all"):
        queue(args.workdir, names, args.folds, jobs)
    if args.command in ("run", "all"):
        run(args.workdir, jobs)
    if args.command in ("table", "all"):
        table(args.workdir, args.markdown)


if __name__ == "__main__":
    main()
