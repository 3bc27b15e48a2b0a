"""Classify a corpus of parquet/CSV shards into one output per shard, in this process or on Ray; resumable.

``classify_table`` turns one batch of input rows into id columns + predictions; both engines call it, so
their outputs agree row for row with ``CpcPredictor.predict``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cpc_dataset.errors import InputError
from cpc_models.files import CONFIG_FILE, THRESHOLDS_FILE
from cpc_models.predict.batch import mark_wordless, texts_to_classify
from cpc_models.predict.shards import (
    Shard,
    check_columns,
    check_job_file,
    kept_columns,
    plan_shards,
    read_batches,
    remove_stale_temporaries,
    write_shard,
)

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")


@dataclass
class CorpusJob:
    input: str
    output: str
    model: str
    backend: str = "auto"
    engine: str = "local"
    address: str | None = None  # Ray: None starts a local cluster; "auto" or "ray://host:10001" joins one
    workers: int | None = None  # Ray actors (default: the cluster's CPUs); ignored by the local engine
    batch_size: int = 256
    id_columns: list[str] | None = None  # input columns kept beside the predictions (default: all but the texts)
    top_k: int | None = None
    threshold: float | None = None
    progress: bool = True

    def settings(self) -> dict:
        """What decides the output (not how it is computed): a re-run must match it to resume. A model folder is
        named by its full path and the digest of its config and thresholds, so a retrained model is not mixed in."""
        import hashlib

        model, digest = Path(self.model), hashlib.sha256()
        for name in (CONFIG_FILE, THRESHOLDS_FILE):
            if (model / name).is_file():
                digest.update((model / name).read_bytes())
        return {
            "model": str(model.resolve()) if model.exists() else str(self.model),
            "model_config_sha256": digest.hexdigest()[:16],
            "backend": self.backend,
            "id_columns": self.id_columns,
            "top_k": self.top_k,
            "threshold": self.threshold,
        }


@dataclass
class CorpusReport:
    shards: int = 0
    skipped: int = 0  # already written by an earlier run
    written: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # shard -> why it was not written
    rows: int = 0
    seconds: float = 0.0  # from loading the model(s) to the last shard written (a Ray cluster's own start not counted)
    startup_seconds: float = 0.0  # of which, until the first rows were classified (model loads, Ray actors starting)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def steady_rows_per_second(self) -> float:
        """Once started: what a longer run tends to."""
        running = self.seconds - self.startup_seconds
        return self.rows / running if running > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "rows_per_second": round(self.rows_per_second, 1),
            "steady_rows_per_second": round(self.steady_rows_per_second, 1),
        }


def predict_corpus(job: CorpusJob, **engine_options) -> CorpusReport:
    """Classify every shard of ``job.input`` whose output is not written yet. Shards that cannot be read are reported
    (the others are written) and raise ``InputError`` at the end, so a re-run retries only those."""
    if job.engine not in ENGINES:
        raise InputError(f"unknown engine {job.engine!r}; choose one of {', '.join(ENGINES)}")
    if job.engine == "ray":
        from cpc_models.predict.distributed import require_ray

        require_ray()
    shards = plan_shards(job.input, job.output)
    check_columns(shards, job.id_columns)
    check_job_file(Path(job.output), job.settings())
    remove_stale_temporaries(shards)
    unreadable = {str(s.source): s.error for s in shards if s.error and not s.done}
    todo = [s for s in shards if not s.done and not s.error]
    log.info(
        "%d shards, %d already written, %d to do (%d rows), %d unreadable",
        len(shards),
        sum(s.done for s in shards),
        len(todo),
        sum(s.rows for s in todo),
        len(unreadable),
    )
    if job.engine == "ray":
        from cpc_models.predict.distributed import run_ray

        report = run_ray(job, todo, **engine_options) if todo else CorpusReport()
    else:
        report = run_local(job, todo) if todo else CorpusReport()
    report.shards, report.skipped = len(shards), len(shards) - len(todo) - len(unreadable)
    report.failed = {**unreadable, **report.failed}
    if report.failed:
        first, why = next(iter(report.failed.items()))
        raise InputError(
            f"{len(report.failed)} of {len(todo) + len(unreadable)} shards not written (first: {first}: {why}); "
            f"the other {len(report.written)} are; re-run the same command to retry"
        )
    return report


def run_local(job: CorpusJob, shards: list[Shard]) -> CorpusReport:
    """One shard after another in this process, in batches of ``job.batch_size``."""
    import pyarrow as pa
    from tqdm.auto import tqdm

    from cpc_models.predict.predictor import CpcPredictor

    report, start = CorpusReport(), time.perf_counter()
    predictor = CpcPredictor.from_pretrained(job.model, backend=job.backend)
    with tqdm(
        total=sum(s.rows for s in shards), desc="classifying", unit="row", unit_scale=True, disable=not job.progress
    ) as bar:
        for shard in shards:
            try:
                parts = []
                for batch in read_batches(shard, job.batch_size):
                    parts.append(
                        classify_table(
                            predictor, pa.Table.from_batches([batch]), job.id_columns, job.top_k, job.threshold
                        )
                    )
                    bar.update(batch.num_rows)
                    report.startup_seconds = report.startup_seconds or time.perf_counter() - start
                table = pa.concat_tables(parts) if parts else empty_output(shard, job.id_columns)
            except (OSError, ValueError) as exc:  # unreadable file: the other shards go on
                report.failed[str(shard.source)] = (
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                )
                log.error("%s: %s", shard.source, report.failed[str(shard.source)])
                continue
            write_shard(shard, table)
            report.written.append(str(shard.output))
            report.rows += table.num_rows
    report.seconds = time.perf_counter() - start
    log.info(
        "%d rows in %.1f s: %.0f rows/s (%.0f rows/s after a %.1f s start)",
        report.rows,
        report.seconds,
        report.rows_per_second,
        report.steady_rows_per_second,
        report.startup_seconds,
    )
    return report


def classify_table(
    predictor,
    table,
    id_columns: list[str] | None = None,
    top_k: int | None = None,
    threshold: float | None = None,
    extra_columns: tuple[str, ...] = (),
):
    """Input rows (``abstract``, optional ``title``, anything else) -> kept columns + ``codes``, ``scores``,
    ``subclasses``, ``sections``, ``truncated``, ``out_of_scope``, ``reason``. A row that cannot be classified gets a reason, never an error."""
    import pyarrow as pa

    n = table.num_rows
    abstracts = _strings(table, "abstract", n)
    titles = _strings(table, "title", n)
    predictions = predict_safely(predictor, texts_to_classify(titles, abstracts), top_k, threshold)
    mark_wordless(predictions, abstracts)  # as ``predict_csv``: an abstract of symbols only is not classified
    keep = kept_columns(table.column_names, id_columns)
    columns = {c: table.column(c) for c in [*keep, *extra_columns] if c in table.column_names}
    strings = pa.list_(pa.string())
    columns["codes"] = pa.array([[c.code for c in p.codes] for p in predictions], strings)
    columns["scores"] = pa.array([[c.score for c in p.codes] for p in predictions], pa.list_(pa.float64()))
    columns["subclasses"] = pa.array([[c.code for c in p.subclasses] for p in predictions], strings)
    columns["sections"] = pa.array([[c.code for c in p.sections] for p in predictions], strings)
    columns["truncated"] = pa.array([p.truncated for p in predictions], pa.bool_())
    columns["out_of_scope"] = pa.array([p.out_of_scope for p in predictions], pa.bool_())
    columns["reason"] = pa.array([p.reason for p in predictions], pa.string())
    return pa.table(columns)


def predict_safely(predictor, texts: list[str], top_k: int | None, threshold: float | None) -> list:
    """``predictor.predict``; if a batch fails, row by row, and a row that still fails gets its error as the reason."""
    from cpc_models.predict.predictor import Prediction

    if not texts:
        return []
    try:
        return predictor.predict(texts, top_k=top_k, threshold=threshold)
    except Exception as exc:  # noqa: BLE001 - one bad row must not stop a corpus
        log.warning(
            "a batch of %d rows failed (%s: %s); classifying it row by row", len(texts), type(exc).__name__, exc
        )
    results = []
    for text in texts:
        try:
            results.extend(predictor.predict([text], top_k=top_k, threshold=threshold))
        except Exception as exc:  # noqa: BLE001
            results.append(Prediction(reason=f"could not classify: {type(exc).__name__}: {exc}"[:300]))
    return results


def empty_output(shard: Shard, id_columns: list[str] | None):
    """The output of a shard with no rows: its kept columns and the prediction columns, no rows."""
    import pyarrow as pa

    from cpc_models.predict.shards import input_columns

    if shard.format == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_schema(shard.source).empty_table()
    else:
        table = pa.table({c: pa.array([], pa.string()) for c in input_columns(shard)})
    return classify_table(None, table, id_columns)


def _strings(table, name: str, n: int) -> list[str]:
    if name not in table.column_names:
        return [""] * n
    return [v if isinstance(v, str) else "" for v in table.column(name).to_pylist()]
