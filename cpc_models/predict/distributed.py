"""``cpc predict --engine ray``: the corpus through a Ray Data pipeline, on a local cluster or an existing one.

read_parquet / read_csv (with each row's source path) -> map_batches(ShardClassifier) on a pool of actors, each
loading the model once -> this process collects each shard's rows and writes its output (temporary name, then
rename) as soon as the shard is complete, so a killed job resumes shard by shard.

How the model reaches the workers: on a local cluster (no ``--address``) every actor loads it from the same
folder path, so nothing is copied. When joining a cluster, whose nodes may not see this machine's disk, the
folder is packed once and put in Ray's object store (``ray.put``): each node fetches it once and unpacks it once
(into a temporary folder named by its digest, which the node's actors share). A model that is not a local folder (a Hub repo id) is passed by name and each actor loads it itself.
Input files are read by the workers: on a cluster they must sit at the same path on every node (shared storage).
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import tarfile
import time
from collections import defaultdict
from pathlib import Path

from cpc_dataset.errors import InputError, MisconfiguredError
from cpc_dataset.hub import is_repo_id
from cpc_models.predict.corpus import CorpusJob, CorpusReport, classify_table
from cpc_models.predict.shards import TEXT_COLUMNS, Shard, csv_options, input_columns, write_shard

log = logging.getLogger(__name__)

PATH_COLUMN = "path"  # added by Ray's readers (include_paths=True)
READ_CPUS = 0  # reading is light next to classifying: the actors hold the CPUs, reads run beside them


def require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        raise MisconfiguredError(
            "--engine ray needs Ray: pip install 'patent-cpc[scale]' (or: pip install 'ray[data]')"
        )


class ShardClassifier:
    """One Ray actor: loads the predictor once, then classifies batch after batch."""

    def __init__(self, model, backend: str, id_columns, top_k, threshold):
        from cpc_models.predict.predictor import CpcPredictor

        if not isinstance(model, (str, bytes)):  # an ObjectRef: the packed folder in the object store
            import ray

            model = ray.get(model)
        if isinstance(model, bytes):
            model = unpack_model(model)
        self.predictor = CpcPredictor.from_pretrained(model, backend=backend)
        self.options = dict(id_columns=id_columns, top_k=top_k, threshold=threshold)

    def __call__(self, batch):
        return classify_table(self.predictor, batch, extra_columns=(PATH_COLUMN,), **self.options)


def pack_model(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(folder, arcname="model")
    return buffer.getvalue()


def unpack_model(data: bytes) -> str:
    """Unpack a packed model folder once per node: into ``<tmp>/cpc-model-<digest>``, shared by the node's actors and
    reused by later jobs with the same model (a cache of one folder per model version, not a copy per task)."""
    import hashlib
    import shutil
    import tempfile

    target = os.path.join(tempfile.gettempdir(), f"cpc-model-{hashlib.sha256(data).hexdigest()[:16]}")
    if not os.path.isdir(target):
        staging = tempfile.mkdtemp(prefix=".cpc-model-")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
            tar.extractall(staging, filter="data")
        try:
            os.rename(staging, target)
        except OSError:  # another actor on this node got there first
            shutil.rmtree(staging, ignore_errors=True)
    return os.path.join(target, "model")


def run_ray(job: CorpusJob, shards: list[Shard], ship_model: bool | None = None) -> CorpusReport:
    """Classify ``shards`` on Ray. ``ship_model``: put the model folder in the object store (default: only when joining
    a cluster with ``--address``)."""
    import ray

    if not is_repo_id(job.model):  # a wrong folder says so here, not in every actor
        from cpc_models.registry import read_model_config

        read_model_config(Path(job.model))
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
    import ray.data
    from tqdm.auto import tqdm

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # rows leave in input order: each shard's output keeps it
    context.enable_progress_bars = False  # one bar below, in rows/s
    context.max_errored_blocks = -1  # an unreadable block fails its shard (it comes up short), not the job

    cpus = float(ray.cluster_resources().get("CPU", 1))
    workers = job.workers or max(1, int(cpus))
    # Ray Data lists the input files in a task that asks for a whole CPU: the actors leave one free for it. The
    # figure is a reservation, not a thread limit; Ray runs the actors' numeric libraries on one thread either way.
    actor_cpus = max(0.0, min(1.0, (cpus - 1) / workers))
    model = _model_argument(job.model, ship_model)
    report, start = CorpusReport(), time.perf_counter()
    for shard in shards:
        if shard.rows == 0:
            _finish(shard, [], job, report)
    log.info("Ray: %d workers, %d shards", workers, len(shards))
    with tqdm(
        total=sum(s.rows for s in shards), desc="classifying", unit="row", unit_scale=True, disable=not job.progress
    ) as bar:
        for fmt in ("parquet", "csv"):  # one pipeline per format: a block never mixes CSV strings with parquet types
            group = [s for s in shards if s.format == fmt and s.rows]
            if not group:
                continue
            # readers combine small files into one block, and one block goes to one actor: cut blocks to batch size
            dataset = _read(group, fmt, job.id_columns).repartition(target_num_rows_per_block=job.batch_size)
            dataset = dataset.map_batches(
                ShardClassifier,
                fn_constructor_kwargs=dict(
                    model=model,
                    backend=job.backend,
                    id_columns=job.id_columns,
                    top_k=job.top_k,
                    threshold=job.threshold,
                ),
                batch_size=job.batch_size,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=actor_cpus,
            )
            _collect(dataset, group, job, report, bar, start)
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


def _collect(dataset, shards: list[Shard], job: CorpusJob, report: CorpusReport, bar, start: float) -> None:
    """Route result rows to their shard by source path; write a shard once all its rows are in."""
    import pyarrow as pa
    import pyarrow.compute as pc

    by_path = {_key(s.source): s for s in shards}
    parts, counts = defaultdict(list), defaultdict(int)
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        batch = batch if isinstance(batch, pa.Table) else pa.table(batch)
        report.startup_seconds = report.startup_seconds or time.perf_counter() - start
        for path in pc.unique(batch.column(PATH_COLUMN)).to_pylist():
            part = batch.filter(pc.equal(batch.column(PATH_COLUMN), path)).drop_columns([PATH_COLUMN])
            shard = by_path[_key(path)]
            parts[shard].append(part)
            counts[shard] += part.num_rows
            bar.update(part.num_rows)
            if counts[shard] == shard.rows:
                _finish(shard, parts.pop(shard), job, report)
    for shard in parts:  # came up short: a block that could not be read
        report.failed[str(shard.source)] = (
            f"{counts[shard]} of {shard.rows} rows came back (a block failed: see Ray's logs)"
        )
    for shard in shards:
        if shard not in counts:
            report.failed[str(shard.source)] = "no rows came back (see Ray's logs)"


def _read(shards: list[Shard], fmt: str, id_columns: list[str] | None):
    import ray.data

    if any(PATH_COLUMN in input_columns(s) for s in shards):
        raise InputError(
            f"an input column is named {PATH_COLUMN!r}, which Ray's readers use for the source file: rename it"
        )
    paths = [str(s.source) for s in shards]
    if fmt == "parquet":
        columns = None
        if id_columns:  # read only what is kept (a corpus may carry full texts, claims, ...)
            present = set(input_columns(shards[0]))
            columns = [c for c in [*id_columns, *TEXT_COLUMNS] if c in present]
        return ray.data.read_parquet(
            paths, columns=columns, include_paths=True, num_cpus=READ_CPUS, file_extensions=None
        )
    names = sorted({c for s in shards for c in input_columns(s)})
    return ray.data.read_csv(paths, include_paths=True, num_cpus=READ_CPUS, **csv_options(columns=names))


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


def _finish(shard: Shard, parts: list, job: CorpusJob, report: CorpusReport) -> None:
    """Write one shard: its own kept columns (a block may have carried a neighbour shard's columns too)."""
    import pyarrow as pa

    from cpc_models.predict.corpus import empty_output

    expected = empty_output(shard, job.id_columns)
    if parts:
        table = pa.concat_tables(parts, promote_options="permissive")
        missing = [f for f in expected.schema if f.name not in table.column_names]
        for f in missing:
            table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
        table = table.select(expected.column_names)
    else:
        table = expected
    write_shard(shard, table)
    report.written.append(str(shard.output))
    report.rows += table.num_rows


def _key(path) -> str:
    return os.path.normpath(os.path.abspath(str(path)))
