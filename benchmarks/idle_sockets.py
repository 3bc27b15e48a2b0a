"""``cpc serve`` under ``wrk`` (50 connections of small requests) with and without 200 idle sockets held open.

The idle sockets stand for a client that opens connections and sends nothing (reopening any the server closes,
so 200 are always open or opening). Before issue 19 they made uvicorn's connection cap answer 503 to 95 % of the
requests and log one line per 503; now a new connection makes room by closing the longest idle one. Both phases
run in one session against one server, side by side; reported: requests/s, the share of non-2xx answers and
socket errors, p50/p99 latency, and the number of lines the server logged during the phase.

    .venv/bin/python benchmarks/idle_sockets.py [--idle 200] [--connections 50] [--duration 20] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.load import FALLBACK_TEXTS, ensure_wrk, lua_script, run_wrk, wrk_result  # noqa: E402
from cpc_models.settings import DATASET_DIR, default_model_dir  # noqa: E402
from spaces.formatting import read_examples  # noqa: E402
from tests.fixtures.processes import LOCALHOST, cpc_command, free_port, running_server  # noqa: E402
from tests.fixtures.slow_clients import IdleSockets  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=default_model_dir())
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1, help="cpc serve --workers (the cap is per worker)")
    parser.add_argument(
        "--max-connections", type=int, help="CPC_MAX_CONNECTIONS (default: the server's); 100 was the old default"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    wrk = ensure_wrk()
    texts = read_examples(DATASET_DIR, 200) or FALLBACK_TEXTS
    work = Path(tempfile.mkdtemp(prefix="cpc-idle-"))
    script = lua_script(work / "small.lua", [json.dumps({"inputs": t, "parameters": {"top_k": 5}}) for t in texts])
    env = {"CPC_MODEL": str(args.model), "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    if args.max_connections:
        env["CPC_MAX_CONNECTIONS"] = str(args.max_connections)
    port = free_port()
    command = cpc_command("-v", "serve", "--host", LOCALHOST, "--port", str(port), "--workers", str(args.workers))
    log = work / "serve.log"
    phases = {}
    load_before = [round(x, 2) for x in os.getloadavg()]
    with running_server("serve", command, f"http://{LOCALHOST}:{port}", log, ready_path="/health", env=env) as server:
        wrk_result(run_wrk(wrk, server.url, script, args.connections, args.threads, 3))  # warm-up
        for name, idle in (("no idle sockets", 0), (f"{args.idle} idle sockets", args.idle)):
            lines_before = len(log.read_bytes().splitlines())
            holder = IdleSockets(port, idle)
            with holder:
                result = wrk_result(run_wrk(wrk, server.url, script, args.connections, args.threads, args.duration))
            answered = result["requests"]
            result["bad_share_pct"] = round(100 * (result["non_2xx"] + result["errors"]) / max(answered, 1), 2)
            result["log_lines"] = len(log.read_bytes().splitlines()) - lines_before
            result["idle_sockets_reopened"] = holder.reopened
            phases[name] = result
    report = {
        "model": Path(args.model).name,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "workers": args.workers,
        "max_connections": args.max_connections or "default",
        "connections": args.connections,
        "seconds_per_phase": args.duration,
        "phases": phases,
    }
    print(
        f"{'phase':<20} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7} {'bad %':>6} {'log':>5}"
    )
    for name, r in phases.items():
        print(
            f"{name:<20} {r['requests_per_s']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['non_2xx']:>8} "
            f"{r['errors']:>7} {r['bad_share_pct']:>6} {r['log_lines']:>5}"
        )
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
