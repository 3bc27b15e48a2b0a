"""Load test: N concurrent clients for a fixed time against ``cpc serve`` and ``cpc space``.

Starts each server itself on 127.0.0.1 (a free port), drives it, stops it by PID, and prints requests/s,
p50/p95 latency and errors. Bounded: every client stops at the deadline, every request has a time-out,
and no run sends more than ``--max-requests`` requests. Nothing but 127.0.0.1 is ever contacted.

    .venv/bin/python benchmarks/load.py --model hub/models/cpc-default
    .venv/bin/python benchmarks/load.py --model M --duration 30 --server-clients 50 --space-clients 20 --out load.json

The load generator shares the machine with the server: on a small machine the numbers are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cpc_models.settings import DATASET_DIR, default_model_dir  # noqa: E402
from spaces.formatting import read_examples  # noqa: E402
from tests.fixtures.processes import LOCALHOST, cpc_command, free_port, running_server  # noqa: E402

FALLBACK_TEXTS = [
    "A neural network is trained on labelled images and classifies new images into categories.",
    "A router forwards packets using rules learned from traffic statistics.",
    "A robot controller maps camera images to motor commands with reinforcement learning.",
    "A language model answers questions about documents retrieved from an index.",
]


class Recorder:
    def __init__(self, max_requests: int):
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.max_requests = max_requests
        self._lock = threading.Lock()

    def full(self) -> bool:
        return len(self.latencies) + sum(self.errors.values()) >= self.max_requests

    def ok(self, seconds: float) -> None:
        with self._lock:
            self.latencies.append(seconds)

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def summary(self, name: str, clients: int, seconds: float, **extra) -> dict:
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

        return {"target": name, "clients": clients, "seconds": round(seconds, 1), "requests": len(lat),
                "requests_per_s": round(len(lat) / seconds, 1), "p50_ms": pct(0.50), "p95_ms": pct(0.95),
                "max_ms": round(lat[-1] * 1000, 1) if lat else None, "errors": sum(self.errors.values()),
                "error_kinds": self.errors, **extra}


async def _drive_server(url: str, texts: list[str], clients: int, duration: float, rec: Recorder) -> float:
    import httpx

    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:

        async def client(i: int) -> None:
            n = i
            while time.monotonic() < deadline and not rec.full():
                start = time.perf_counter()
                try:
                    response = await http.post(url + "/", json={"inputs": texts[n % len(texts)], "parameters": {"top_k": 5}})
                    if response.status_code == 200:
                        rec.ok(time.perf_counter() - start)
                    else:
                        rec.error(f"HTTP {response.status_code}")
                except httpx.HTTPError as exc:
                    rec.error(type(exc).__name__)
                n += clients

        start = time.monotonic()
        await asyncio.gather(*(client(i) for i in range(clients)))
        return time.monotonic() - start


def load_server(env: dict, texts: list[str], clients: int, duration: float, max_requests: int, logs: Path) -> dict:
    import httpx

    port = free_port()
    command = cpc_command("serve", "--host", LOCALHOST, "--port", str(port))
    with running_server("serve", command, f"http://{LOCALHOST}:{port}", logs / "serve.log", ready_path="/health", env=env) as server:
        httpx.post(server.url + "/", json={"inputs": texts[0]}, timeout=60)  # warm-up
        before = httpx.get(server.url + "/health").json()["batches"]
        rec = Recorder(max_requests)
        seconds = asyncio.run(_drive_server(server.url, texts, clients, duration, rec))
        batches = httpx.get(server.url + "/health").json()["batches"] - before
    return rec.summary("cpc serve (Inference API)", clients, seconds, model_calls=batches,
                       texts_per_model_call=round(len(rec.latencies) / max(batches, 1), 1))


def load_space(env: dict, texts: list[str], clients: int, duration: float, max_requests: int, logs: Path) -> dict:
    from gradio_client import Client

    port = free_port()
    command = cpc_command("space", "--host", LOCALHOST, "--port", str(port))
    with running_server("space", command, f"http://{LOCALHOST}:{port}", logs / "space.log", env=env) as space:
        Client(space.url, verbose=False, analytics_enabled=False).predict(texts[0], 5, 0, api_name="/predict")  # warm-up
        rec = Recorder(max_requests)
        deadline = time.monotonic() + duration

        def client(i: int) -> None:
            try:
                gradio = Client(space.url, verbose=False, analytics_enabled=False, download_files=False)
            except Exception as exc:  # noqa: BLE001: counted, not raised
                rec.error(f"connect: {type(exc).__name__}")
                return
            n = i
            while time.monotonic() < deadline and not rec.full():
                start = time.perf_counter()
                try:
                    gradio.predict(texts[n % len(texts)], 5, 0, api_name="/predict")
                    rec.ok(time.perf_counter() - start)
                except Exception as exc:  # noqa: BLE001
                    rec.error(type(exc).__name__)
                n += clients

        start = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
        [t.start() for t in threads]
        [t.join(duration + 60) for t in threads]
        seconds = time.monotonic() - start
    return rec.summary("cpc space (gradio_client /predict)", clients, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=default_model_dir())
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--dataset", type=Path, default=DATASET_DIR, help="Texts come from its test split.")
    parser.add_argument("--duration", type=float, default=30.0, help="Seconds of load per target.")
    parser.add_argument("--server-clients", type=int, default=50)
    parser.add_argument("--space-clients", type=int, default=20)
    parser.add_argument("--max-requests", type=int, default=200_000, help="Hard cap per target.")
    parser.add_argument("--only", choices=["server", "space"])
    parser.add_argument("--out", type=Path, help="Write the results as JSON here too.")
    args = parser.parse_args(argv)
    if not (args.model / "config.json").exists():
        parser.error(f"{args.model} is not a model folder; train one (cpc train ...) or pass --model")
    texts = read_examples(args.dataset, 200) or FALLBACK_TEXTS
    logs = Path(tempfile.mkdtemp(prefix="cpc-load-"))
    env = {"CPC_MODEL": str(args.model), "CPC_BACKEND": args.backend, "CPC_DATASET": str(args.dataset),
           "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(logs / "gradio"), "HF_HUB_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1"}
    results = []
    if args.only in (None, "server"):
        results.append(load_server(env, texts, args.server_clients, args.duration, args.max_requests, logs))
    if args.only in (None, "space"):
        results.append(load_space(env, texts, args.space_clients, args.duration, args.max_requests, logs))
    report = {"model": str(args.model), "cpus": os.cpu_count(), "logs": str(logs), "results": results}
    print(f"{'target':<36} {'clients':>7} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'errors':>6}")
    for r in results:
        print(f"{r['target']:<36} {r['clients']:>7} {r['requests_per_s']:>7} {r['p50_ms']!s:>8} {r['p95_ms']!s:>8} {r['errors']:>6}")
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
