"""``cpc serve`` on several worker processes: the model is loaded once, then the server forks.

One Python process uses about one core (the GIL). With ``CPC_WORKERS=2`` (or ``--workers 2``) each worker runs
its own event loop and micro-batcher on the shared listening socket (the kernel spreads the connections), and
the model's memory is shared copy-on-write (about +180 MB PSS per extra worker for the default model). The
default is ``min(2, cores)``: on the 2 idle cores of ``benchmarks/results/load.md`` two workers keep the
small requests at 950/s, p99 137 ms with a maximal request each second in the mix (one worker: 545/s, p99 202 ms). Forking after torch or onnxruntime started their thread pools is not tested.

If a worker dies, the others are stopped and ``cpc serve`` exits with status 1, for a supervisor to restart it;
SIGTERM or Ctrl-C stops every worker gracefully.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)


def serve(config, workers: int) -> int:
    """Run ``uvicorn.Config`` ``config`` in ``workers`` processes (forked after the app is built); exit status."""
    import uvicorn

    if workers <= 1:
        uvicorn.Server(config).run()
        return 0
    sock = config.bind_socket()
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker: serve until told to stop, never return into the parent's code
            code = 1
            os.environ.setdefault("CPC_SEARCH_THREADS", "1")  # one process per core already
            try:
                uvicorn.Server(config).run(sockets=[sock])
                code = 0
            except BaseException:  # noqa: BLE001 - logged; the parent sees the status
                log.exception("worker %d failed", os.getpid())
            finally:
                os._exit(code)
        children.append(pid)
    sock.close()
    stopping = False

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while children:
        try:
            pid, raw = os.wait()
        except ChildProcessError:
            break
        children.remove(pid)
        code = os.waitstatus_to_exitcode(raw)
        if not stopping:
            log.error("worker %d exited with status %d; stopping the server", pid, code)
            status = 1
            stop(signal.SIGTERM, None)
    return status
