"""Raw rows -> documents, out of core in DuckDB: merge by number, then by abstract; split by family or abstract.

Tables of the scratch database, in order:

- ``rows``: every usable raw row, without its text (``seq``: its place in the reading order; ``akey``: SHA-256
  of its normalised abstract, ``cpc_dataset.text.abstract_key``; ``bucket``: the split bucket of that key);
  ``texts``: a view of the rows' titles and abstracts, read from the raw parquet files when written out.
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
SEQ_SHIFT = 40  # seq = file index << 40 | row in its file: the reading order, and the way back to a row's text


def ingest(con, raw_dirs: list[str], scratch: Path, progress: bool = True) -> RawReadStats:
    """Every raw file of every folder (in order) into the table ``rows`` and the view ``texts``; returns counts.

    Only the abstract keys are computed in Python; numbers, codes and family ids are copied by DuckDB from the
    parquet files, and the text stays in them (``texts`` reads it back for the documents written). Scraper CSVs
    are read row by row (``cpc_dataset.raw``) into a parquet file in ``scratch`` first.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    stats = RawReadStats()
    files = [p for d in raw_dirs for p in list_raw_files(Path(d))]
    names = [p.name for p in files]
    sources: list[Path] = []
    con.execute("CREATE TABLE keys (seq BIGINT, akey BLOB, bucket UTINYINT)")
    bar = tqdm(desc="reading raw files", unit=" rows", disable=not progress)
    for index, path in enumerate(files):
        label = path.name if names.count(path.name) == 1 else str(path)
        is_csv = path.suffix.lower() == ".csv"
        if is_csv:
            records = read_raw_file(path, stats)
            stats.rows_per_file.pop(path.name, None)
            source = scratch / f"csv-{index:05d}.parquet"
            _write_records(records, source)
        else:
            open_raw_parquet(path)
            stats.files += 1
            source = path
        kept = offset = 0
        for batch in pq.ParquetFile(source).iter_batches(batch_size=BATCH_ROWS, columns=list(KEY_COLUMNS)):
            keep = _usable(batch, path.name, None if is_csv else stats)
            positions = pc.indices_nonzero(keep)
            abstracts = batch.column("abstract").filter(keep).to_pylist()
            digests = [hashlib.sha256(abstract_key(a).encode("utf-8")).digest() for a in abstracts]
            seqs = pc.add(positions.cast(pa.int64()), (index << SEQ_SHIFT) + offset)
            table = pa.table(
                {
                    "seq": seqs,
                    "akey": pa.array(digests, pa.binary()),
                    "bucket": pa.array([_bucket(d) for d in digests], pa.uint8()),
                }
            )
            con.register("_keys", table)
            con.execute("INSERT INTO keys SELECT * FROM _keys")
            con.unregister("_keys")
            offset += batch.num_rows
            kept += len(digests)
            bar.update(batch.num_rows)
        stats.rows_per_file[label] = kept
        sources.append(source)
    bar.close()
    con.register(
        "_files", pa.table({"idx": pa.array(range(len(sources)), pa.int64()), "name": list(map(str, sources))})
    )
    con.execute("CREATE TABLE files AS SELECT * FROM _files")
    con.unregister("_files")
    listing = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in sources) + "]"

    def scan(columns: str) -> str:  # the columns named, not p.*: DuckDB then reads no text it does not need
        return f"""
            SELECT (f.idx << {SEQ_SHIFT}) + p.file_row_number AS seq, {columns}
            FROM read_parquet({listing}, filename = true, file_row_number = true, union_by_name = true) p
            JOIN files f ON f.name = p.filename
        """

    con.execute(f"""
        CREATE TABLE rows AS
        SELECT k.seq, p.publication_number, p.cpc_codes, p.family_id, k.akey, k.bucket
        FROM keys k JOIN ({scan("p.publication_number, p.cpc_codes, p.family_id")}) p USING (seq)
    """)
    con.execute(f"CREATE VIEW texts AS {scan('p.title, p.abstract')}")
    con.execute("DROP TABLE keys")
    return stats


KEY_COLUMNS = ("publication_number", "abstract", "cpc_codes")


def _write_records(records, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cpc_dataset.raw import raw_schema

    schema = raw_schema()
    columns = {
        "publication_number": [r.publication_number for r in records],
        "title": [r.title for r in records],
        "abstract": [r.abstract for r in records],
        "cpc_codes": [r.cpc_codes for r in records],
    }
    n = len(records)
    arrays = [pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema]
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)


def _usable(batch, where: str, stats: RawReadStats | None):
    """The mask of a batch's rows the build can use; the others are counted in ``stats`` (CSV rows: counted already)."""
    import pyarrow.compute as pc

    has_number = pc.fill_null(pc.greater(pc.utf8_length(batch.column("publication_number")), 0), False)
    has_abstract = pc.fill_null(pc.greater(pc.utf8_length(batch.column("abstract")), 0), False)
    has_codes = pc.fill_null(pc.greater(pc.list_value_length(batch.column("cpc_codes")), 0), False)
    keep = pc.and_(pc.and_(has_number, has_abstract), has_codes)
    if stats is None:
        return keep
    stats.rows += batch.num_rows
    if pc.sum(keep).as_py() != batch.num_rows:
        for reason, mask in (
            ("no publication number", pc.invert(has_number)),
            ("no abstract", pc.and_(has_number, pc.invert(has_abstract))),
            ("no codes", pc.and_(pc.and_(has_number, has_abstract), pc.invert(has_codes))),
        ):
            for _ in range(pc.sum(mask).as_py() or 0):
                stats.drop(reason, where, quiet=True)
    return keep


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
        SELECT publication_number, code, min(seq::HUGEINT * 65536 + pos) AS ord  -- < 2^64
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
               min(CASE WHEN m.publication_number = m.head THEN 0 ELSE 1 END::HUGEINT * (1::HUGEINT << 120)
                   + m.first_seq::HUGEINT * (1::HUGEINT << 64) + nc.ord) AS ord
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
