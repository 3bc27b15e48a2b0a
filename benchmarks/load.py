"""Load test of ``cpc serve`` with Debian's ``wrk`` (a compiled load generator): small requests alone, then the same
small requests with one maximal request (32 texts of ~19,000 characters) per second in the mix (sent on a fixed
schedule from one Python thread: one request a second costs the client nothing worth measuring).

Starts the server itself on 127.0.0.1 (a free port), drives it with ``wrk`` (installed with apt-get when missing;
Lua scripts send the POST bodies), stops it by PID, and prints, for each phase: requests/s, p50/p95/p99 latency
of the small requests, errors, the big requests' latency, and the server's peak RSS. Nothing but 127.0.0.1 is
contacted. The server's CPU seconds per phase (over its workers) are reported too: unlike the rates, they do not
depend on what else the machine runs. The ratio mixed/alone says how much the big requests slow the small ones.

    .venv/bin/python benchmarks/load.py                               # 50 connections, 20 s per phase
    .venv/bin/python benchmarks/load.py --connections 50 --duration 30 --out benchmarks/results/load.json

``wrk`` shares the machine with the server: on a small machine the numbers are a floor, and so is anything else
that runs at the same time (say what else ran when you quote them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cpc_models.scoring.report import portable_path  # noqa: E402
from cpc_models.settings import DATASET_DIR, default_model_dir  # noqa: E402
from spaces.formatting import read_examples  # noqa: E402
from tests.fixtures.processes import LOCALHOST, cpc_command, free_port, running_server  # noqa: E402

FALLBACK_TEXTS = [
    "A neural network is trained on labelled images and classifies new images into categories.",
    "A router forwards packets using rules learned from traffic statistics.",
    "A robot controller maps camera images to motor commands with reinforcement learning.",
    "A language model answers questions about documents retrieved from an index.",
]
BIG_TEXTS, BIG_CHARS = 32, 19_000  # the largest request cpc serve accepts by default (32 texts, 20,000 characters)

# wrk calls request() for every request and done() once; latencies are in microseconds.
LUA = """
local bodies = {%(bodies)s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/", {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "errors": %%d, "non_2xx": %%d, '
    .. '"p50_us": %%d, "p90_us": %%d, "p95_us": %%d, "p99_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def ensure_wrk() -> str:
    """The path of ``wrk``, installing Debian's package when it is missing (needs root or sudo)."""
    found = shutil.which("wrk")
    if found:
        return found
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "wrk"]):
        subprocess.run(prefix + step, check=True, env=env, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed and apt-get could not install it")
    return found


def lua_script(path: Path, bodies: list[str]) -> Path:
    path.write_text(LUA % {"bodies": ", ".join(f"[==[{b}]==]" for b in bodies)})
    return path


def run_wrk(wrk: str, url: str, script: Path, connections: int, threads: int, seconds: float) -> subprocess.Popen:
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url + "/",
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wrk_result(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    line = next((line for line in out.splitlines() if line.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result:\n{out}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    seconds = raw["duration_us"] / 1e6
    ok = raw["requests"] - raw["non_2xx"]
    return {
        "requests": raw["requests"],
        "requests_per_s": round(ok / seconds, 1),
        "errors": raw["errors"],
        "non_2xx": raw["non_2xx"],
        **{
            k.replace("_us", "_ms"): round(raw[k] / 1000, 1) for k in ("p50_us", "p90_us", "p95_us", "p99_us", "max_us")
        },
    }


class EverySecond:
    """One maximal request per second on a fixed schedule (each on its own connection, so a slow one never delays
    the next) from threads: one request a second costs the client nothing worth measuring. Keeps the latencies."""

    def __init__(self, url: str, body: bytes, seconds: float):
        self.url, self.body, self.seconds, self.latencies, self.failures = url, body, seconds, [], {}
        self._lock = threading.Lock()

    def _one(self) -> None:
        import httpx

        t0 = time.perf_counter()
        try:
            status = httpx.post(
                self.url + "/", content=self.body, headers={"content-type": "application/json"}, timeout=60
            ).status_code
            failure = None if status == 200 else f"HTTP {status}"
        except httpx.HTTPError as exc:
            failure = type(exc).__name__
        with self._lock:
            if failure is None:
                self.latencies.append(time.perf_counter() - t0)
            else:
                self.failures[failure] = self.failures.get(failure, 0) + 1

    def run(self) -> None:
        start, threads = time.monotonic(), []
        for tick in range(int(self.seconds)):
            time.sleep(max(0.0, start + tick - time.monotonic()))
            threads.append(threading.Thread(target=self._one, daemon=True))
            threads[-1].start()
        for thread in threads:
            thread.join(90)

    def result(self) -> dict:
        lat = sorted(self.latencies)
        pick = (lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1)) if lat else (lambda p: None)
        return {
            "sent": int(self.seconds),
            "ok": len(lat),
            "failures": self.failures,
            "p50_ms": pick(0.5),
            "max_ms": pick(1.0),
        }


class PeakRss:
    """Peak memory of a process and its children (the server's workers), sampled every 0.1 s in a ``with`` block:
    the sum of their RSS (counts the model once per worker) and of their PSS (shared pages split between them)."""

    def __init__(self, pid: int):
        self.pid, self.peak_rss_mb, self.peak_pss_mb, self._stop = pid, 0.0, 0.0, threading.Event()

    def _tree(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            children = []
        return [self.pid, *map(int, children)]

    @staticmethod
    def _kb(path: str, key: str) -> int:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            pids = self._tree()
            rss = sum(self._kb(f"/proc/{p}/status", "VmRSS:") for p in pids) / 1024
            pss = sum(self._kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids) / 1024
            self.peak_rss_mb, self.peak_pss_mb = max(self.peak_rss_mb, rss), max(self.peak_pss_mb, pss)
            self._stop.wait(0.1)

    def cpu_seconds(self) -> float:
        """User + system CPU time the process and its children have used so far."""
        total = 0
        for p in self._tree():
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
        return total / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> PeakRss:
        self.cpu_start = self.cpu_seconds()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu_used = self.cpu_seconds() - self.cpu_start
        self._stop.set()
        self._thread.join()


def big_texts(texts: list[str]) -> list[str]:
    """32 different texts of ~19,000 characters, made of the dataset's abstracts."""
    out = []
    for i in range(BIG_TEXTS):
        parts, size, j = [], 0, i
        while size < BIG_CHARS:
            parts.append(texts[j % len(texts)])
            size += len(parts[-1]) + 1
            j += 7
        out.append(" ".join(parts)[:BIG_CHARS])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=default_model_dir())
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--dataset", type=Path, default=DATASET_DIR, help="Texts come from its test split.")
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds per phase.")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads for the small requests.")
    parser.add_argument(
        "--workers", type=int, default=0, help="cpc serve --workers (0: its default, CPC_WORKERS or 1)."
    )
    parser.add_argument("--out", type=Path, help="Write the results as JSON here too.")
    args = parser.parse_args(argv)
    if not (args.model / "config.json").exists():
        parser.error(f"{args.model} is not a model folder; train one (cpc train ...) or pass --model")
    wrk = ensure_wrk()
    load_before = [round(x, 2) for x in os.getloadavg()]
    texts = read_examples(args.dataset, 200) or FALLBACK_TEXTS
    work = Path(tempfile.mkdtemp(prefix="cpc-load-"))
    small = lua_script(work / "small.lua", [json.dumps({"inputs": t, "parameters": {"top_k": 5}}) for t in texts])
    big = json.dumps({"inputs": big_texts(texts), "parameters": {"top_k": 5}}).encode()
    env = {
        "CPC_MODEL": str(args.model),
        "CPC_BACKEND": args.backend,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    port = free_port()
    command = cpc_command(
        "serve", "--host", LOCALHOST, "--port", str(port), *(["--workers", str(args.workers)] if args.workers else [])
    )
    phases = {}
    with running_server(
        "serve", command, f"http://{LOCALHOST}:{port}", work / "serve.log", ready_path="/health", env=env
    ) as server:
        wrk_result(run_wrk(wrk, server.url, small, args.connections, args.threads, 3))  # warm-up
        for name, with_big in (("small alone", False), ("small + 1 maximal/s", True)):
            with PeakRss(server.pid) as rss:
                sender = EverySecond(server.url, big, args.duration) if with_big else None
                thread = threading.Thread(target=sender.run, daemon=True) if sender else None
                if thread:
                    thread.start()
                phases[name] = wrk_result(
                    run_wrk(wrk, server.url, small, args.connections, args.threads, args.duration)
                )
                if thread:
                    thread.join(60)
                    phases[name]["big"] = sender.result()
            phases[name]["peak_rss_mb"] = round(rss.peak_rss_mb, 1)
            phases[name]["peak_pss_mb"] = round(rss.peak_pss_mb, 1)
            phases[name]["server_cpu_s"] = round(rss.cpu_used, 1)  # load-independent: the server's own CPU time
    alone, mixed = phases["small alone"], phases["small + 1 maximal/s"]
    report = {
        "model": portable_path(args.model, REPO),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "workers": args.workers or "default",
        "connections": args.connections,
        "seconds_per_phase": args.duration,
        "phases": phases,
        "mixed_over_alone": {
            "requests_per_s": round(mixed["requests_per_s"] / max(alone["requests_per_s"], 1e-9), 2),
            "p99_ms": round(mixed["p99_ms"] / max(alone["p99_ms"], 1e-9), 2),
        },
    }
    print(
        f"{'phase':<22} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'RSS MB':>8} {'PSS MB':>8} {'CPU s':>6}"
    )
    for name, r in phases.items():
        print(
            f"{name:<22} {r['requests_per_s']:>8} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['p99_ms']:>8} "
            f"{r['errors'] + r['non_2xx']:>7} {r['peak_rss_mb']:>8} {r['peak_pss_mb']:>8} {r['server_cpu_s']:>6}"
        )
    b = mixed["big"]
    print(
        f"maximal requests: {b['sent']} sent ({b['ok']} answered, failures {b['failures'] or 'none'}), p50 {b['p50_ms']} ms, max {b['max_ms']} ms"
    )
    print(
        f"mixed/alone: requests/s x{report['mixed_over_alone']['requests_per_s']}, p99 x{report['mixed_over_alone']['p99_ms']}"
    )
    print(json.dumps(report, indent=2))
    shutil.rmtree(
        work, ignore_errors=True
    )  # scripts and the server log (kept when a phase fails: the path is in the error)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
