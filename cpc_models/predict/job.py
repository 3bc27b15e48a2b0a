"""What a batch job is (``CorpusJob``: input, output, model and options) and what it did (``CorpusReport``).

Shared by the engines (``corpus`` runs shards in this process, ``distributed`` on Ray) so that neither imports the
other. One input file is a corpus of one shard: the same job, the same report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from cpc_models.files import CONFIG_FILE, THRESHOLDS_FILE

ENGINES = ("local", "ray")


@dataclass
class CorpusJob:
    input: str  # a file, a folder (searched recursively) or a glob of .parquet/.csv files
    output: str  # a folder (one output per input shard), or one .parquet/.csv file for one input file
    model: str
    backend: str = "auto"
    revision: str | None = None  # branch, tag or commit of a Hub model repo
    engine: str = "local"
    address: str | None = None  # Ray: None starts a local cluster; "auto" or "ray://host:10001" joins one
    workers: int | None = None  # Ray actors (default: the cluster's CPUs); the local engine has one
    batch_size: int = 256
    id_columns: list[str] | None = None  # input columns kept beside the predictions (default: all of them)
    top_k: int | None = None
    threshold: float | None = None
    resume: bool = False  # an earlier run's output exists: skip the shards it completed
    overwrite: bool = False  # an earlier run's output exists: delete it and start again
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
            "revision": self.revision,
            "model_config_sha256": digest.hexdigest()[:16],
            "backend": self.backend,
            "id_columns": self.id_columns,
            "top_k": self.top_k,
            "threshold": self.threshold,
        }


@dataclass
class CorpusReport:
    shards: int = 0
    skipped: int = 0  # complete outputs of an earlier run (--resume)
    written: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # shard -> why it was not written
    rows: int = 0
    bad_lines: int = 0  # CSV lines skipped for a wrong number of fields (each one warned with its text)
    seconds: float = 0.0  # from loading the model(s) to the last shard written (a Ray cluster's own start not counted)
    startup_seconds: float = 0.0  # of which, until the model(s) were loaded and classifying could start

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

    def summary(self, output: str) -> str:
        """The one line ``cpc predict`` prints at the end of a batch job."""
        line = (
            f"{self.rows} rows in {len(self.written)} shards written to {output} ({self.rows_per_second:.0f} rows/s); "
            f"{self.skipped} shards already there"
        )
        if self.bad_lines:
            line += f"; {self.bad_lines} CSV lines skipped: wrong number of fields (each one is logged as a warning)"
        return line
