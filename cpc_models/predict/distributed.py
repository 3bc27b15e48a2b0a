"""``cpc predict --engine ray``: the shards of a corpus on a pool of Ray actors, on a local cluster or an existing one.

Each actor loads the model once, then takes whole shards: it reads one (typed, in batches), classifies it and writes
its output itself (temporary name, then rename: the same ``classify_shard`` as the local engine). This process only
hands out shards, largest first, and collects one small report per shard: it neither reads nor writes rows, so it
is not the bottleneck of a large cluster, and a shard that cannot be read fails alone. A shard is the unit of work:
give at least as many shards as workers.

How the model reaches the workers: on a local cluster (no ``--address``) every actor loads it from the same
folder path, so nothing is copied. When joining a cluster, whose nodes may not see this machine's disk, the
folder is packed once and put in Ray's object store (``ray.put``): each node fetches it once and unpacks it once
(into a temporary folder named by its digest, which the node's actors share). A model that is not a local folder
(a Hub repo id) is passed by name (and ``--revision``) and each actor loads it itself. Input and output files are
read and written by the workers: on a cluster they must sit at the same path on every node (shared storage).
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import tarfile
import time
from pathlib import Path

from cpc_dataset.errors import MisconfiguredError
from cpc_dataset.hub import is_repo_id
from cpc_models.predict.classify import ShardFailed, classify_shard
from cpc_models.predict.job import CorpusJob, CorpusReport
from cpc_models.predict.shards import Shard, first_line

log = logging.getLogger(__name__)


def require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        raise MisconfiguredError(
            "--engine ray needs Ray: pip install 'patent-cpc[scale]' (or: pip install 'ray[data]')"
        )


def check_model(model: str) -> None:
    """A wrong model folder says so here, before the output is touched, not in every actor."""
    if not is_repo_id(model):
        from cpc_models.registry import read_model_config

        read_model_config(Path(model))


class ShardWorker:
    """One Ray actor: loads the predictor once, then classifies and writes shard after shard."""

    def __init__(self, model, job: CorpusJob):
        from cpc_models.predict.predictor import CpcPredictor

        os.environ.setdefault("CPC_SEARCH_THREADS", "1")  # one actor per CPU already

        if not isinstance(model, (str, bytes)):  # an ObjectRef: the packed folder in the object store
            import ray

            model = ray.get(model)
        if isinstance(model, bytes):
            model = unpack_model(model)
        self.predictor = CpcPredictor.from_pretrained(model, backend=job.backend, revision=job.revision)
        self.job = job

    def ready(self) -> bool:
        return True

    def run(self, shard: Shard) -> tuple[int, int, str]:
        """(rows written, CSV lines skipped, "") or (0, 0, why the shard was not written)."""
        try:
            return (*classify_shard(self.predictor, shard, self.job), "")
        except ShardFailed as exc:
            return 0, 0, str(exc)


def pack_model(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(folder, arcname="model")
    return buffer.getvalue()


def unpack_model(data: bytes) -> str:
    """Unpack a packed model folder once per node: into ``<tmp>/cpc-model-<digest>``, shared by the node's actors and
    reused by later jobs with the same model (a cache of one folder per model version, not a copy per task). A folder
    of that name that this user did not make (another owner, writable by others, a symlink) is not trusted: the
    model is unpacked into a private folder of its own instead."""
    import hashlib
    import shutil
    import tempfile

    target = os.path.join(tempfile.gettempdir(), f"cpc-model-{hashlib.sha256(data).hexdigest()[:16]}")
    if os.path.lexists(target) and not _ours(target):
        log.warning("%s is not this user's own folder; unpacking the model into a private one", target)
        return os.path.join(_extract(data, tempfile.mkdtemp(prefix="cpc-model-")), "model")
    if not os.path.lexists(target):
        staging = _extract(data, tempfile.mkdtemp(prefix=".cpc-model-"))
        try:
            os.rename(staging, target)
        except OSError:  # another actor on this node got there first
            shutil.rmtree(staging, ignore_errors=True)
            if not _ours(target):
                raise MisconfiguredError(
                    f"{target} appeared while unpacking the model and is not this user's"
                ) from None
    return os.path.join(target, "model")


def _extract(data: bytes, folder: str) -> str:
    import shutil

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
            tar.extractall(folder, filter="data")
    except BaseException:  # a bad archive or a full disk leaves no half-unpacked folder behind
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def _ours(path: str) -> bool:
    """A real folder (not a symlink) owned by this user and writable by nobody else (``mkdtemp`` makes it 0700)."""
    import stat

    st = os.lstat(path)
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def run_ray(job: CorpusJob, shards: list[Shard], ship_model: bool | None = None) -> CorpusReport:
    """Classify ``shards`` on Ray. ``ship_model``: put the model folder in the object store (default: only when joining
    a cluster with ``--address``)."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            if job.address:
                ray.init(address=job.address, logging_level=logging.WARNING, configure_logging=False)
            else:
                cpus = max(os.cpu_count() or 1, job.workers or 1)
                ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING, configure_logging=False)
        except ConnectionError as exc:
            raise MisconfiguredError(f"cannot reach the Ray cluster at {job.address}: {exc}") from None
    try:
        return _run_pipeline(job, shards, ship_model if ship_model is not None else bool(job.address))
    finally:
        if started_here:
            ray.shutdown()


def _run_pipeline(job: CorpusJob, shards: list[Shard], ship_model: bool) -> CorpusReport:
    import ray
    from tqdm.auto import tqdm

    cpus = float(ray.cluster_resources().get("CPU", 1))
    workers = min(job.workers or max(1, int(cpus)), len(shards))  # more actors than shards would only load models
    report, start = CorpusReport(), time.perf_counter()
    # SPREAD: each node gets its share of the actors (and of the model copies) instead of the first node all of them
    worker = ray.remote(num_cpus=min(1.0, cpus / workers), scheduling_strategy="SPREAD")(ShardWorker)
    model = _model_argument(job.model, ship_model)
    actors = [worker.remote(model, job) for _ in range(workers)]
    try:
        ray.get([a.ready.remote() for a in actors])  # every model loaded
    except ray.exceptions.RayError as exc:  # e.g. a node that cannot load the model
        cause = getattr(exc, "cause", None) or exc
        raise MisconfiguredError(f"a Ray worker could not load the model: {first_line(cause)}") from None
    report.startup_seconds = time.perf_counter() - start
    log.info("Ray: %d workers, %d shards", workers, len(shards))
    queue = sorted(shards, key=lambda s: -s.rows)  # largest first: the last shards to finish are small
    running = {}
    with tqdm(
        total=sum(s.rows for s in shards), desc="classifying", unit="row", unit_scale=True, disable=not job.progress
    ) as bar:
        idle = list(actors)
        while queue or running:
            while idle and queue:
                actor, shard = idle.pop(), queue.pop(0)
                running[actor.run.remote(shard)] = (actor, shard)
            if not running:  # every worker died: the shards left are reported, not lost
                for shard in queue:
                    report.failed[str(shard.source)] = "not classified: no Ray worker left"
                break
            [ref], _ = ray.wait(list(running), num_returns=1)
            actor, shard = running.pop(ref)
            try:
                rows, bad_lines, error = ray.get(ref)
                idle.append(actor)
            except ray.exceptions.RayTaskError as exc:  # a bug in one shard's run: the others go on
                idle.append(actor)
                rows, bad_lines, error = 0, 0, f"{type(exc.cause).__name__}: {exc.cause}"
            except ray.exceptions.RayActorError as exc:  # the worker died (killed, out of memory): it takes no more
                rows, bad_lines, error = 0, 0, f"its Ray worker died ({first_line(exc)})"
            # lost objects, a lost node, Ray's own faults: the worker is not reused
            except ray.exceptions.RayError as exc:
                rows, bad_lines, error = 0, 0, f"Ray failed ({type(exc).__name__}: {first_line(exc)})"
            if error:
                report.failed[str(shard.source)] = error
                log.error("%s: %s", shard.source, error)
            else:
                report.written.append(str(shard.output))
                report.rows += rows
                report.bad_lines += bad_lines
                log.info("wrote %s (%d rows)", shard.output, rows)
            bar.update(shard.rows)
    for actor in actors:
        ray.kill(actor)
    report.seconds = time.perf_counter() - start
    log.info(
        "%d rows in %.1f s on %d Ray workers: %.0f rows/s (%.0f rows/s after a %.1f s start)",
        report.rows,
        report.seconds,
        workers,
        report.rows_per_second,
        report.steady_rows_per_second,
        report.startup_seconds,
    )
    return report


def _model_argument(model: str, ship: bool):
    folder = Path(model)
    if is_repo_id(model):
        return str(model)  # each actor resolves it
    if not ship:
        return str(folder.resolve())
    import ray

    data = pack_model(folder)
    log.info("model folder packed (%.1f MB) and put in the object store once", len(data) / 1e6)
    return ray.put(data)
