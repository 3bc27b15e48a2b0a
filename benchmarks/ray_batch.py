"""Corpus classification throughput: ``--engine local`` against Ray with 1 and 2 workers, in one run.

    python benchmarks/ray_batch.py                 # 100,000 abstracts (the dataset repeated), 20 parquet shards
    python benchmarks/ray_batch.py --rows 20000    # quicker
    python benchmarks/ray_batch.py --before REF    # also Ray, 2 workers, with the engine of git REF (its driver's CPU)

``--before`` runs the earlier engine from a temporary ``git worktree`` of REF in a child process, on the same shards
in the same run, so the driver's CPU-seconds per 100,000 rows of the two designs sit side by side.

Each configuration classifies the same shards into its own output folder with ``predict_corpus`` (what
``cpc predict --input … --output … --engine …`` runs). Rows/s count from the start of the pipeline (Ray: actors
starting and loading the model included; the cluster's own start is timed apart) to the last shard written.
Memory: the peak resident set (RSS) and proportional set (PSS: each page shared by several processes, such as
the model's memory-mapped arrays and the shared libraries, counted as its share) of each Ray worker process
(sampled from /proc every 0.5 s) and of this process for the local engine. Writes ``benchmarks/results/ray_batch.json`` and puts its table above the earlier runs' in ``ray_batch.md``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE = sys.argv[sys.argv.index("--code") + 1] if "--code" in sys.argv else str(REPO)  # --before's child: REF's tree
sys.path.insert(0, CODE)

from cpc_models.predict.corpus import CorpusJob, predict_corpus  # noqa: E402
from cpc_models.settings import DATASET_DIR, default_model_dir  # noqa: E402

WORKER_TAGS = ("ShardWorker", "ShardClassifier")  # Ray actors' process titles: now, and before issue 18


def build_corpus(folder: Path, rows: int, shards: int) -> None:
    """``rows`` abstracts (every split of the dataset, repeated; publication numbers made unique) in parquet shards."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((REPO / DATASET_DIR / "data").glob("*.parquet"))
    parts = [pq.read_table(p, columns=["publication_number", "title", "abstract"]) for p in files]
    base = pa.concat_tables(parts)
    repeats = -(-rows // base.num_rows)
    table = pa.concat_tables([base] * repeats).slice(0, rows)
    numbers = [f"{n}#{i // base.num_rows}" for i, n in enumerate(table.column("publication_number").to_pylist())]
    table = table.set_column(0, "publication_number", pa.array(numbers))
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-rows // shards)
    for i in range(shards):
        pq.write_table(table.slice(i * size, size), folder / f"part-{i:03d}.parquet")


class ProcessSampler:
    """Peak resident memory (MB) and CPU seconds per process, for this process or the Ray classifier actors that
    start during the run, sampled every 0.5 s."""

    def __init__(self, own: bool):
        self.own, self.peaks, self.pss, self.cpu, self._stop = own, {}, {}, {}, threading.Event()
        self._earlier = set(_worker_pids())  # actors of an earlier configuration still shutting down
        self._cpu_before = _cpu_seconds(os.getpid()) if own else 0.0
        self._driver_before = _cpu_seconds(os.getpid())  # this process: for Ray, reading results and writing shards
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.driver_cpu = _cpu_seconds(os.getpid()) - self._driver_before

    def _run(self):
        while not self._stop.is_set():
            for pid in [os.getpid()] if self.own else set(_worker_pids()) - self._earlier:
                rss = _proc_mb(pid, "status", "VmRSS")
                if rss:
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), rss)
                    self.pss[pid] = max(self.pss.get(pid, 0.0), _proc_mb(pid, "smaps_rollup", "Pss"))
                    self.cpu[pid] = _cpu_seconds(pid) - (self._cpu_before if self.own else 0.0)
            self._stop.wait(0.5)


def _worker_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if any(t in Path(f"/proc/{entry}/cmdline").read_text(errors="replace") for t in WORKER_TAGS):
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (its model load and imports included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _proc_mb(pid: int, file: str, field: str) -> float:
    """A kB field of a /proc file of ``pid`` (``status``'s ``VmRSS``, ``smaps_rollup``'s ``Pss``) in MB; 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run(name: str, job: CorpusJob) -> dict:
    load_before = os.getloadavg()[0]
    with ProcessSampler(own=job.engine == "local") as sampler:
        wall = time.perf_counter()
        report = predict_corpus(job)
        wall = time.perf_counter() - wall
    pids = sorted(sampler.peaks, key=sampler.peaks.get)
    cpu = sum(sampler.cpu.values())
    result = {
        "config": name,
        "engine": job.engine,
        "workers": job.workers or 1,
        "rows": report.rows,
        "seconds": round(report.seconds, 1),
        "startup_seconds": round(report.startup_seconds, 1),
        "rows_per_second": round(report.rows_per_second, 1),
        "steady_rows_per_second": round(report.steady_rows_per_second, 1),
        "wall_seconds": round(wall, 1),
        "classifier_cpu_seconds": round(cpu, 1),
        "rows_per_cpu_second": round(report.rows / cpu, 1) if cpu else None,
        "driver_cpu_seconds": round(sampler.driver_cpu, 1) if job.engine == "ray" else None,
        "driver_cpu_seconds_per_100k_rows": (
            round(sampler.driver_cpu / report.rows * 100_000, 1) if job.engine == "ray" and report.rows else None
        ),
        "peak_rss_mb_per_process": [round(sampler.peaks[p]) for p in pids],
        "peak_pss_mb_per_process": [round(sampler.pss[p]) for p in pids],
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }
    logging.info("%s", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--model", default=str(default_model_dir()))
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster.")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "ray_batch"))
    parser.add_argument("--before", default=None, help="git ref whose engine runs Ray, 2 workers, for comparison")
    parser.add_argument("--code", default=None, help=argparse.SUPPRESS)  # --before's child: the tree to import
    parser.add_argument("--corpus", default=None, help=argparse.SUPPRESS)  # --before's child: the shards to read
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("cpc_models.predict", "ray", "ray.data"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if args.code:
        _child(args)
        return

    from cpc_models.scoring.report import portable_path  # not in --before's child: an earlier tree may lack it

    work = Path(tempfile.mkdtemp(prefix="cpc-bench-"))
    try:
        build_corpus(work / "in", args.rows, args.shards)
        results = [run("local", _job(args, work / "in", work, "local"))]
        results += _ray_runs(args, work / "in", work, (1, 2))
        if args.before:
            results.append(_before(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    by = {r["config"]: r for r in results}
    ratio = by["ray, 2 workers"]["rows_per_second"] / by["ray, 1 worker"]["rows_per_second"]
    steady = by["ray, 2 workers"]["steady_rows_per_second"] / by["ray, 1 worker"]["steady_rows_per_second"]
    summary = {
        "rows": args.rows,
        "shards": args.shards,
        "batch_size": args.batch_size,
        "model": portable_path(args.model, REPO),
        "cpus": args.cpus,
        "os_cpu_count": os.cpu_count(),
        "ray_2_vs_1_workers": round(ratio, 2),
        "ray_2_vs_1_workers_steady": round(steady, 2),
        "ray_1_worker_vs_local": round(by["ray, 1 worker"]["rows_per_second"] / by["local"]["rows_per_second"], 2),
        "before": args.before,
        "results": results,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results + ".json").write_text(json.dumps(summary, indent=2) + "\n")
    md = Path(args.results + ".md")
    md.write_text(render(summary) + ("\n" + md.read_text() if md.exists() else ""))  # newest run first
    print(render(summary))


def _job(args, corpus: Path, work: Path, engine: str, workers: int | None = None, tag: str = "") -> CorpusJob:
    return CorpusJob(
        str(corpus),
        str(work / f"out-{engine}-{workers or 0}{tag}"),
        args.model,
        engine=engine,
        workers=workers,
        batch_size=args.batch_size,
        progress=False,
    )


def _ray_runs(args, corpus: Path, work: Path, workers: tuple[int, ...], tag: str = "") -> list[dict]:
    """Ray configurations on one local cluster (its own start timed apart, not counted)."""
    import ray

    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="WARNING", _temp_dir=str(work / f"ray{tag}"))
    try:
        return [run(f"ray, {n} worker{'s' * (n > 1)}{tag}", _job(args, corpus, work, "ray", n, tag)) for n in workers]
    finally:
        ray.shutdown()


def _child(args) -> None:
    """``--before``'s child: Ray, 2 workers, with the engine of the tree on ``sys.path`` (``--code``)."""
    [result] = _ray_runs(args, Path(args.corpus), Path(args.results), (2,), tag=" (before)")
    Path(args.results, "result.json").write_text(json.dumps(result))


def _before(args, work: Path) -> dict:
    """Ray, 2 workers, run by the engine of ``args.before`` from a temporary worktree, on the same shards."""
    import subprocess

    tree = work / "before"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.before], check=True)
    try:
        model = Path(args.model)
        command = [sys.executable, __file__, "--code", str(tree), "--corpus", str(work / "in"), "--results", str(work)]
        command += ["--batch-size", str(args.batch_size), "--cpus", str(args.cpus), "--model", str(model.resolve())]
        # Ray puts the driver's working directory on its workers' path: the earlier tree's, so they import its engine
        subprocess.run(command, check=True, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)})
        result = json.loads((work / "result.json").read_text())
        result["config"] = f"ray, 2 workers, engine of {args.before}"
        return result
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)


def render(s: dict) -> str:
    lines = [
        f"# Corpus classification: local engine vs Ray ({s['date']})",
        "",
        f"{s['rows']:,} abstracts (the dataset repeated) in {s['shards']} parquet shards, batch size {s['batch_size']}, model "
        f"`{s['model']}`, local Ray cluster with {s['cpus']} CPUs (its start not counted), "
        f"machine with {s['os_cpu_count']} cores. One run, configurations one after another.",
        "",
        "| configuration | rows/s | rows/s after start | start (s) | total (s) | cores it got | rows per CPU-second | driver CPU (s) "
        "| driver CPU-s per 100k rows | peak RSS per process (MB) | peak PSS per process (MB) | load average before → after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in s["results"]:
        rss = ", ".join(str(p) for p in r["peak_rss_mb_per_process"]) or "n/a"
        pss = ", ".join(str(p) for p in r.get("peak_pss_mb_per_process", [])) or "n/a"
        lines.append(
            f"| {r['config']} | {r['rows_per_second']:,.0f} | {r['steady_rows_per_second']:,.0f} | {r['startup_seconds']} | {r['seconds']} | "
            f"{r['classifier_cpu_seconds'] / r['seconds']:.2f} | {r['rows_per_cpu_second'] or 'n/a'} | {r.get('driver_cpu_seconds') or '–'} | "
            f"{r.get('driver_cpu_seconds_per_100k_rows') or '–'} | {rss} | {pss} | "
            f"{r['load_average_before']} → {r['load_average_after']} |"
        )
    lines += [
        "",
        f"Ray, 2 workers vs 1 worker: **{s['ray_2_vs_1_workers']}×** overall, {s['ray_2_vs_1_workers_steady']}× after the start "
        f"(target ≥ 1.6× on 2 cores). Ray, 1 worker vs local: {s['ray_1_worker_vs_local']}×.",
        "",
        'Rows/s include each pipeline\'s start (loading the model; for Ray, actors starting); "after start" counts from the',
        "first classified rows. Rows per CPU-second: rows / CPU time of the classifying processes (this process for",
        "local, the actors for Ray; model loading included), which CPU contention disturbs less than rows/s;",
        "cores it got: those CPU-seconds / total seconds (at most 2 here; less when the cores are contended). Driver CPU:",
        "this process during a Ray run (handing out shards and collecting reports; before issue 18 also reading every",
        "result row back and writing the shards), not counted in rows per CPU-second. The engine of an earlier git ref",
        "(`--before`) runs in a child process on the same shards; its driver is that process.",
        "The local engine's peak RSS is this benchmark's whole process; Ray's are the classifier actors only. PSS counts",
        "a page that several processes map (the model's arrays, shared libraries) as its share, so the PSS of the",
        "actors add up to their memory together.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
