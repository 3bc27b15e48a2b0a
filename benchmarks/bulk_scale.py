"""The build at scale: synthetic PatentsView tables of 1M and 5M patents through import + build, time and peak memory.

Run: ``.venv/bin/python benchmarks/bulk_scale.py [--sizes 1000000 5000000] [--work DIR]`` (not part of the test
run; minutes per million rows). For each size it generates the tables (``benchmarks/synthetic_patents.py``,
not timed), then runs ``cpc data import patentsview`` and ``cpc data build`` as separate processes, each
under ``/usr/bin/time``-like accounting (wall seconds, peak resident memory of the process, DuckDB included),
and reports rows per second end to end (import + build) against the targets: peak RSS at most 4 GB,
at least 20,000 rows/s. The generated files are removed afterwards (``--keep-tables DIR`` keeps them there and
reuses them). Writes ``benchmarks/results/bulk_scale.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cpc_models.scoring.report import markdown_table, write_benchmark_report  # noqa: E402

RSS_TARGET_GB = 4.0
SPEED_TARGET = 20_000
DONE = ".done"

# runs a command, then prints its wall seconds and its peak RSS (ru_maxrss of the waited child, in KB on Linux)
MEASURE = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
code = subprocess.call(sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "seconds": time.perf_counter() - t0, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "peak_rss_kb": usage.ru_maxrss}))
"""


def measure(command: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], env=env, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["code"] != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return result


def run_size(n: int, work: Path, keep: Path | None = None) -> dict:
    from benchmarks.synthetic_patents import write_tables

    tables, raw, dataset = (keep or work) / f"tables-{n}", work / f"raw-{n}", work / f"dataset-{n}"
    t0 = time.perf_counter()
    if not (tables / DONE).exists():  # --keep-tables: generated once, reused by later runs
        write_tables(n, tables)
        (tables / DONE).touch()
    generated = time.perf_counter() - t0
    source_mb = sum(p.stat().st_size for p in tables.glob("*.zip")) / 1e6
    cpc = [sys.executable, "-m", "spaces.cli", "-q", "data"]
    imported = measure(cpc + ["import", "patentsview", str(tables), "--out", str(raw)])
    built = measure(cpc + ["build", "--raw", str(raw), "--out", str(dataset)])
    stats = json.loads((dataset / "build_stats.json").read_text())
    shutil.rmtree(raw), shutil.rmtree(dataset)
    if keep is None:
        shutil.rmtree(tables)
    seconds = imported["seconds"] + built["seconds"]
    peak = max(imported["peak_rss_kb"], built["peak_rss_kb"]) / 1024**2
    return {
        "patents": n,
        "zipped_tables_mb": round(source_mb, 1),
        "generate_seconds": round(generated, 1),
        "import_seconds": round(imported["seconds"], 1),
        "import_cpu_seconds": round(imported["cpu_seconds"], 1),
        "import_peak_rss_gb": round(imported["peak_rss_kb"] / 1024**2, 2),
        "build_seconds": round(built["seconds"], 1),
        "build_cpu_seconds": round(built["cpu_seconds"], 1),
        "build_peak_rss_gb": round(built["peak_rss_kb"] / 1024**2, 2),
        "documents": stats["documents"],
        "labels": stats["labels"],
        "rows_per_second": round(n / seconds),
        "rows_per_cpu_second": round(n / (imported["cpu_seconds"] + built["cpu_seconds"])),
        "load_average": round(os.getloadavg()[0], 1),
        "import_rows_per_second": round(n / imported["seconds"]),
        "meets_memory_target": peak <= RSS_TARGET_GB,
        "meets_speed_target": n / seconds >= SPEED_TARGET,
    }


def rewrite(out: Path) -> None:
    """The report again from its JSON (after a change to the report's layout, without rerunning)."""
    write_results(out, json.loads(out.with_suffix(".json").read_text())["rows"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--work", type=Path, help="Scratch folder for the generated files [default: a temporary one].")
    parser.add_argument(
        "--keep-tables", type=Path, help="Folder to keep the generated tables in and reuse them from [default: none]."
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bulk_scale.md")
    parser.add_argument("--rewrite", action="store_true", help="Only write the report again from its JSON.")
    args = parser.parse_args(argv)
    if args.rewrite:
        rewrite(args.out)
        return 0

    rows = []
    with tempfile.TemporaryDirectory(prefix="bulk-scale-", dir=args.work) as tmp:
        for n in args.sizes:
            row = run_size(n, Path(tmp), args.keep_tables)
            print(json.dumps(row), flush=True)
            rows.append(row)
            write_results(args.out, rows)  # after each size: a long run that is stopped keeps what it measured
    return 0


def write_results(out: Path, rows: list[dict]) -> None:
    out.with_suffix(".json").write_text(json.dumps({"cpu_count": os.cpu_count(), "rows": rows}, indent=2) + "\n")
    table = markdown_table(
        [
            "patents",
            "zipped tables",
            "import s",
            "import peak RSS",
            "build s",
            "build peak RSS",
            "documents",
            "rows/s (import + build)",
            "rows per CPU-second",
            "load average",
            "memory target",
            "speed target",
        ],
        [
            [
                f"{r['patents']:,}",
                f"{r['zipped_tables_mb']:,.0f} MB",
                str(r["import_seconds"]),
                f"{r['import_peak_rss_gb']:.2f} GB",
                str(r["build_seconds"]),
                f"{r['build_peak_rss_gb']:.2f} GB",
                f"{r['documents']:,}",
                f"{r['rows_per_second']:,}",
                f"{r['rows_per_cpu_second']:,}",
                str(r["load_average"]),
                "met" if r["meets_memory_target"] else "NOT met",
                "met" if r["meets_speed_target"] else "NOT met",
            ]
            for r in rows
        ],
    )
    setting = (
        f" on {os.cpu_count()} CPU cores: synthetic PatentsView tables (`benchmarks/synthetic_patents.py`: g_patent, "
        "g_patent_abstract, g_cpc_current as .tsv.zip; ~110-word abstracts, ~7 codes per patent, 1% repeated abstracts) "
        "through `cpc data import patentsview` then `cpc data build`, each a separate process (wall time including "
        "start-up; peak RSS of the process, DuckDB included). Rows per CPU-second (user + system time of both "
        "processes) is what a machine of its own would give per busy core; the load average shows how shared it was."
    )
    body = (
        f"{table}\n\nTargets: peak RSS ≤ {RSS_TARGET_GB:g} GB, ≥ {SPEED_TARGET:,} rows/s end to end. "
        f"Memory: {'met' if all(r['meets_memory_target'] for r in rows) else 'NOT met'}; "
        f"speed: {'met' if all(r['meets_speed_target'] for r in rows) else 'NOT met'} "
        "(timings at a load average above the core count are upper bounds). "
        + " ".join(
            f"At {r['patents']:,} patents the CPU time allows at most {r['rows_per_cpu_second'] * (os.cpu_count() or 1):,} "
            f"rows/s on {os.cpu_count()} idle cores (every core busy all the time: a bound, not a measurement)."
            for r in rows
        )
    )
    print(write_benchmark_report(out, "Import and build at scale", "benchmarks/bulk_scale.py", setting, body))


if __name__ == "__main__":
    raise SystemExit(main())
