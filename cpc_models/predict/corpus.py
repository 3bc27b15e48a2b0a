"""The batch engine behind ``cpc predict --input … --output …``: shards in, one output per shard, in this process
(``run_local``) or on Ray (``cpc_models.predict.distributed``). One input file is a corpus of one shard; a folder
or a glob is a corpus of many. Every path writes the same schema (``cpc_models.predict.schema``) under the same
resume rule (``shards.prepare_output``) and ends with one ``CorpusReport``.
"""

from __future__ import annotations

import logging
import time

from cpc_dataset.errors import InputError
from cpc_models.predict.classify import ShardFailed, classify_shard
from cpc_models.predict.job import ENGINES, CorpusJob, CorpusReport
from cpc_models.predict.shards import Shard, check_id_columns, plan_shards, prepare_output, shard_problem

log = logging.getLogger(__name__)


def predict_corpus(job: CorpusJob, predictor=None, **engine_options) -> CorpusReport:
    """Classify every shard of ``job.input`` into ``job.output``. ``predictor``: an already loaded ``CpcPredictor``
    for the local engine (else ``job.model`` is loaded). Shards that cannot be read are reported (the others are
    written) and raise ``InputError`` at the end, so a re-run with ``--resume`` retries only those."""
    if job.engine not in ENGINES:
        raise InputError(f"unknown engine {job.engine!r}; choose one of {', '.join(ENGINES)}")
    check_id_columns(job.id_columns)
    if job.engine == "ray":
        from cpc_models.predict.distributed import check_model, require_ray

        require_ray()
        check_model(job.model)
    shards = plan_shards(job.input, job.output)
    problems = {s: shard_problem(s, job.id_columns) for s in shards}
    if len(shards) == 1 and problems[shards[0]]:  # one file: its problem is the whole answer
        raise InputError(f"{shards[0].source}: {problems[shards[0]]}")
    if job.overwrite and job.engine == "local" and predictor is None:  # a model that fails to load keeps the output
        predictor = load_predictor(job)
    prepare_output(job.output, shards, job.settings(), job.resume, job.overwrite)
    done = {s for s in shards if s.done}
    unreadable = {str(s.source): why for s, why in problems.items() if why and s not in done}
    todo = [s for s in shards if s not in done and not problems[s]]
    log.info(
        "%d shards, %d already written, %d to do (%d rows), %d unreadable",
        len(shards),
        len(done),
        len(todo),
        sum(s.rows for s in todo),
        len(unreadable),
    )
    for source, why in unreadable.items():
        log.error("%s: %s", source, why)
    if not todo:
        report = CorpusReport()
    elif job.engine == "ray":
        from cpc_models.predict.distributed import run_ray

        report = run_ray(job, todo, **engine_options)
    else:
        report = run_local(job, todo, predictor)
    report.shards, report.skipped = len(shards), len(done)
    report.failed = {**unreadable, **report.failed}
    if report.failed:
        failed = list(report.failed.items())
        if len(shards) == 1:
            raise InputError(f"{failed[0][0]}: {failed[0][1]}")
        named = "; ".join(f"{source}: {why}" for source, why in failed[:3])
        more = f"; and {len(failed) - 3} more (see the log)" if len(failed) > 3 else ""
        raise InputError(
            f"{len(failed)} of {len(todo) + len(unreadable)} shards not written ({named}{more}); "
            f"the other {len(report.written)} are; re-run the same command with --resume to retry"
        )
    return report


def run_local(job: CorpusJob, shards: list[Shard], predictor=None) -> CorpusReport:
    """One shard after another in this process, streamed in batches of ``job.batch_size`` (bounded memory)."""
    from tqdm.auto import tqdm

    report, start = CorpusReport(), time.perf_counter()
    if predictor is None:
        predictor = load_predictor(job)
    report.startup_seconds = time.perf_counter() - start
    with tqdm(
        total=sum(s.rows for s in shards), desc="classifying", unit="row", unit_scale=True, disable=not job.progress
    ) as bar:
        for shard in shards:
            try:
                rows, bad_lines = classify_shard(predictor, shard, job, on_rows=bar.update)
            except ShardFailed as exc:  # unreadable data pages: the other shards go on
                report.failed[str(shard.source)] = str(exc)
                log.error("%s: %s", shard.source, exc)
                continue
            report.written.append(str(shard.output))
            report.rows += rows
            report.bad_lines += bad_lines
            log.info("wrote %s (%d rows)", shard.output, rows)
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


def load_predictor(job: CorpusJob):
    from cpc_models.predict.predictor import CpcPredictor

    return CpcPredictor.from_pretrained(job.model, backend=job.backend, revision=job.revision)
