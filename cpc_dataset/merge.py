"""Raw rows -> documents, out of core in DuckDB: merge by number, then by abstract; split by family or abstract.

Tables of the scratch database, in order:

- ``rows``: every usable raw row (``seq``: its place in the reading order; ``akey``: SHA-256 of its normalised
  abstract, ``cpc_dataset.text.abstract_key``; ``bucket``: the split bucket of that key).
- ``numbers``: one per publication number; title and abstract from its first row, codes united in reading order.
- ``members``: each number with ``head``, the number that represents its abstract group: the member with the
  most codes, the earliest of equals. ``docs``: one per head, the group's codes united (the head's first), the
  other numbers in ``others``, the group's family ids in ``families``.
- the split: a document without family ids keeps the split of its abstract key, so a corpus without family
  ids splits exactly as before; documents linked by a shared family id (directly or through other documents)
  share one split, the one of the smallest family id among them, so no family straddles two splits.

The SQL reproduces what the in-memory build did (same documents, codes in the same order) without holding
the corpus in Python.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from cpc_dataset.raw import RawReadStats, list_raw_files, open_raw_parquet, read_raw_file
from cpc_dataset.text import abstract_key

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000
ROW_COLUMNS = ("publication_number", "title", "abstract", "cpc_codes", "family_id")


def split_bucket(key: str) -> int:
    """0..99 from the SHA-256 of ``key``: a document's bucket never changes when the corpus grows."""
    return _bucket(hashlib.sha256(key.encode("utf-8")).digest())


def _bucket(digest: bytes) -> int:
    return int.from_bytes(digest[:8], "big") % 100


def split_case(split_percent: tuple[int, int, int], column: str = "bucket") -> str:
    train, validation, _ = split_percent
    return (
        f"CASE WHEN {column} < {train} THEN 'train' WHEN {column} < {train + validation} THEN 'validation' "
        "ELSE 'test' END"
    )


# -- reading ---------------------------------------------------------------------------------------------
def ingest(con, raw_dirs: list[str], progress: bool = True) -> RawReadStats:
    """Every raw file of every folder (in order) into the table ``rows``; returns the read counts."""
    from tqdm.auto import tqdm

    con.execute(
        "CREATE TABLE rows (seq BIGINT, publication_number VARCHAR, title VARCHAR, abstract VARCHAR, "
        "cpc_codes VARCHAR[], family_id VARCHAR, akey BLOB, bucket UTINYINT)"
    )
    stats = RawReadStats()
    files = [p for d in raw_dirs for p in list_raw_files(Path(d))]
    names = [p.name for p in files]
    seq = 0
    bar = tqdm(desc="reading raw files", unit=" rows", disable=not progress)
    for path in files:
        label = path.name if names.count(path.name) == 1 else str(path)
        before = seq
        if path.suffix.lower() == ".csv":
            records = read_raw_file(path, stats)
            stats.rows_per_file.pop(path.name, None)
            columns = {
                "publication_number": [r.publication_number for r in records],
                "title": [r.title for r in records],
                "abstract": [r.abstract for r in records],
                "cpc_codes": [r.cpc_codes for r in records],
                "family_id": [None] * len(records),
            }
            seq = _insert(con, columns, seq)
        else:
            pf = open_raw_parquet(path)
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=list(ROW_COLUMNS)):
                seq = _insert(con, _usable(batch.to_pydict(), path.name, stats), seq)
                bar.update(batch.num_rows)
            stats.files += 1
        stats.rows_per_file[label] = seq - before
        if path.suffix.lower() == ".csv":
            bar.update(seq - before)
    bar.close()
    return stats


def _usable(columns: dict, where: str, stats: RawReadStats) -> dict:
    """A raw parquet batch without the rows the build cannot use (counted, as for CSV rows)."""
    keep = []
    for i, (number, abstract, codes) in enumerate(
        zip(columns["publication_number"], columns["abstract"], columns["cpc_codes"])
    ):
        stats.rows += 1
        if not number:
            stats.drop("no publication number", where, quiet=True)
        elif not abstract:
            stats.drop("no abstract", where, quiet=True)
        elif not codes:
            stats.drop("no codes", where, quiet=True)
        else:
            keep.append(i)
    if len(keep) == len(columns["publication_number"]):
        return columns
    return {name: [values[i] for i in keep] for name, values in columns.items()}


def _insert(con, columns: dict, seq: int) -> int:
    import pyarrow as pa

    n = len(columns["publication_number"])
    if n == 0:
        return seq
    digests = [hashlib.sha256(abstract_key(a).encode("utf-8")).digest() for a in columns["abstract"]]
    table = pa.table(
        {
            "seq": pa.array(range(seq, seq + n), pa.int64()),
            **{c: columns[c] for c in ("publication_number", "title", "abstract")},
            "cpc_codes": pa.array(columns["cpc_codes"], pa.list_(pa.string())),
            "family_id": pa.array(columns["family_id"], pa.string()),
            "akey": pa.array(digests, pa.binary()),
            "bucket": pa.array([_bucket(d) for d in digests], pa.uint8()),
        }
    )
    con.register("_batch", table)
    con.execute("INSERT INTO rows SELECT * FROM _batch")
    con.unregister("_batch")
    return seq + n


# -- merging ---------------------------------------------------------------------------------------------
def merge(con) -> tuple[int, int]:
    """Build ``numbers``, ``members``, ``docs`` and ``doc_codes``; returns (rows merged by number, by abstract)."""
    con.execute("""
        CREATE TABLE numbers AS
        SELECT publication_number, min(seq) AS first_seq, arg_min(akey, seq) AS akey, arg_min(bucket, seq) AS bucket,
               coalesce(list(DISTINCT family_id) FILTER (WHERE family_id IS NOT NULL), []) AS families
        FROM rows GROUP BY publication_number
    """)
    con.execute("""
        CREATE TABLE number_codes AS
        SELECT publication_number, code, min(seq * 65536 + pos) AS ord
        FROM (SELECT publication_number, seq, unnest(cpc_codes) AS code, generate_subscripts(cpc_codes, 1) AS pos
              FROM rows)
        GROUP BY ALL
    """)
    con.execute("""
        CREATE TABLE members AS
        SELECT n.*, c.n_codes,
               first_value(n.publication_number) OVER (PARTITION BY n.akey ORDER BY c.n_codes DESC, n.first_seq)
                   AS head
        FROM numbers n
        JOIN (SELECT publication_number, count(*) AS n_codes FROM number_codes GROUP BY 1) c USING (publication_number)
    """)
    # a code's place in a document: the head's codes first, then each other member's (in reading order)
    con.execute("""
        CREATE TABLE doc_codes AS
        SELECT m.head, nc.code,
               min(CASE WHEN m.publication_number = m.head THEN 0 ELSE 1 END::HUGEINT * (1::HUGEINT << 100)
                   + m.first_seq::HUGEINT * (1::HUGEINT << 50) + nc.ord) AS ord
        FROM members m JOIN number_codes nc USING (publication_number)
        GROUP BY ALL
    """)
    con.execute("""
        CREATE TABLE docs AS
        SELECT m.head AS publication_number,
               max(CASE WHEN m.publication_number = m.head THEN m.first_seq END) AS text_seq,
               any_value(m.bucket) AS bucket,
               coalesce(list(m.publication_number ORDER BY m.first_seq) FILTER (WHERE m.publication_number <> m.head),
                        []) AS others,
               list_distinct(flatten(list(m.families))) AS families,
               NULL::VARCHAR AS split
        FROM members m GROUP BY m.head
    """)
    n_rows, n_numbers, n_docs = con.execute(
        "SELECT (SELECT count(*) FROM rows), (SELECT count(*) FROM numbers), (SELECT count(*) FROM docs)"
    ).fetchone()
    return n_rows - n_numbers, n_numbers - n_docs


def assign_splits(con, split_percent: tuple[int, int, int], max_rounds: int = 50) -> int:
    """Set ``docs.split``; returns the number of documents split by family."""
    con.execute("CREATE TABLE doc_family AS SELECT publication_number AS doc, unnest(families) AS family FROM docs")
    con.execute("CREATE TABLE doc_label AS SELECT doc, min(family) AS label FROM doc_family GROUP BY doc")
    for _ in range(max_rounds):  # connected components: the smallest family id reachable through shared families
        con.execute("""
            CREATE OR REPLACE TABLE next_label AS
            WITH family_label AS (SELECT f.family, min(l.label) AS label FROM doc_family f JOIN doc_label l USING (doc)
                                  GROUP BY f.family)
            SELECT f.doc, min(fl.label) AS label FROM doc_family f JOIN family_label fl USING (family) GROUP BY f.doc
        """)
        changed = con.execute(
            "SELECT count(*) FROM next_label n JOIN doc_label l USING (doc) WHERE n.label <> l.label"
        ).fetchone()[0]
        con.execute("DROP TABLE doc_label; ALTER TABLE next_label RENAME TO doc_label")
        if not changed:
            break
    labels = [r[0] for r in con.execute("SELECT DISTINCT label FROM doc_label").fetchall()]
    import pyarrow as pa

    buckets = pa.table(
        {"label": pa.array(labels, pa.string()), "label_bucket": pa.array(map(split_bucket, labels), pa.uint8())}
    )
    con.register("_label_buckets", buckets)
    con.execute("""
        UPDATE docs SET bucket = b.label_bucket
        FROM doc_label l JOIN _label_buckets b USING (label) WHERE docs.publication_number = l.doc
    """)
    con.unregister("_label_buckets")
    con.execute(f"UPDATE docs SET split = {split_case(split_percent)}")
    return con.execute("SELECT count(*) FROM doc_label").fetchone()[0]
