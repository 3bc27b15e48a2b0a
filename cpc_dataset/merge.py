"""Raw rows -> documents, out of core in DuckDB: merge by number, then by abstract; split by family or abstract.

Tables of the scratch database, in order:

- ``rows``: every usable raw row, without its text (``seq``: its place in the reading order; ``akey``: SHA-256
  of its normalised abstract, ``cpc_dataset.text.abstract_key``, computed a batch at a time
  (``cpc_dataset.arrow_text``); ``bucket``: the split bucket of that key); ``texts``: a view of the rows'
  titles and abstracts, read from the raw parquet files when written out.
- ``multi``: the rows that merge with others: those whose number or abstract key another row shares (and any
  with a repeated code). Every other row is a document as it stands (its codes in its order, no other
  numbers): most rows of a large corpus, which thus skip the merge. ``multi``'s rows go through it:
- ``numbers``: one per publication number; title and abstract from its first row, codes united in reading order.
- ``members``: each number with ``head``, the number that represents its abstract group: the member with the
  most codes, the earliest of equals; ``doc_codes``: each group's codes united (the head's first).
- ``docs``: one per document, the rows that stand alone and the merged groups: ``codes`` in order, the other
  numbers in ``others``, the family ids in ``families``.
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

from cpc_dataset.pipeline import in_threads
from cpc_dataset.raw import RawReadStats, list_raw_files, open_raw_parquet, read_raw_file

log = logging.getLogger(__name__)


def split_bucket(key: str) -> int:
    """0..99 from the SHA-256 of ``key``: a document's bucket never changes when the corpus grows."""
    return _bucket(hashlib.sha256(key.encode("utf-8")).digest())


def _bucket(digest: bytes) -> int:
    return int(digest_buckets([digest])[0])


def digest_buckets(digests: list[bytes]):
    """The bucket (0..99) of each SHA-256 digest: its first 8 bytes as a big-endian integer, modulo 100."""
    import numpy as np

    first8 = np.frombuffer(b"".join(digests), ">u8").reshape(-1, 4)[:, 0] if digests else np.zeros(0, ">u8")
    return (first8 % 100).astype(np.uint8)


def split_case(split_percent: tuple[int, int, int], column: str = "bucket") -> str:
    train, validation, _ = split_percent
    return (
        f"CASE WHEN {column} < {train} THEN 'train' WHEN {column} < {train + validation} THEN 'validation' "
        "ELSE 'test' END"
    )


# -- reading ---------------------------------------------------------------------------------------------
SEQ_SHIFT = 40  # seq = file index << 40 | row in its file: the reading order, and the way back to a row's text
BATCH_ROWS = 32_768
KEY_COLUMNS = ("publication_number", "abstract", "cpc_codes", "family_id")


def _rows_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("seq", pa.int64()),
            ("publication_number", pa.string()),
            ("cpc_codes", pa.list_(pa.string())),
            ("family_id", pa.string()),
            ("akey", pa.binary()),
            ("bucket", pa.uint8()),
        ]
    )


def ingest(con, raw_dirs: list[str], scratch: Path, progress: bool = True) -> RawReadStats:
    """Every raw file of every folder (in order) into the table ``rows`` and the view ``texts``; returns counts.

    Only the abstract keys are computed in Python (``cpc_dataset.arrow_text``, a batch at a time on two threads);
    the text stays in the files (``texts`` reads it back for the documents written). Scraper CSVs are read row by row
    (``cpc_dataset.raw``) into a parquet file in ``scratch`` first. Unusable rows are counted by reason.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from cpc_dataset.arrow_text import abstract_digests

    stats = RawReadStats()
    files = [p for d in raw_dirs for p in list_raw_files(Path(d))]
    names = [p.name for p in files]
    sources: list[Path] = []
    labels: list[str] = []
    counted: set[int] = set()  # CSV files: their rows were counted (and the bad ones dropped) when read
    for index, path in enumerate(files):
        labels.append(path.name if names.count(path.name) == 1 else str(path))
        if path.suffix.lower() == ".csv":
            records = read_raw_file(path, stats)
            stats.rows_per_file.pop(path.name, None)
            source = scratch / f"csv-{index:05d}.parquet"
            _write_records(records, source)
            counted.add(index)
        else:
            open_raw_parquet(path)
            stats.files += 1
            source = path
        sources.append(source)
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

    log.info("reading %d raw file(s)", len(sources))
    kept = dict.fromkeys(range(len(sources)), 0)

    def usable():  # counted here, in the reading thread
        for index, offset, batch in _raw_batches(sources):
            keep = _usable(batch, None if index in counted else stats)
            seqs = pc.add(pc.indices_nonzero(keep).cast(pa.int64()), (index << SEQ_SHIFT) + offset)
            batch = batch.filter(keep)
            kept[index] += batch.num_rows
            yield seqs, batch

    def keyed(item):  # on a worker thread
        seqs, batch = item
        digests = abstract_digests(batch.column("abstract"))
        return pa.record_batch(
            {
                "seq": seqs,
                "publication_number": batch.column("publication_number"),
                "cpc_codes": batch.column("cpc_codes"),
                "family_id": batch.column("family_id"),
                "akey": pa.array(digests, pa.binary()),
                "bucket": pa.array(digest_buckets(digests)),
            }
        )

    schema = _rows_schema()
    batches = (b.cast(schema) for b in in_threads(keyed, usable()))
    con.register("_rows", pa.RecordBatchReader.from_batches(schema, batches))
    con.execute("CREATE TABLE rows AS SELECT * FROM _rows")
    con.unregister("_rows")
    stats.rows_per_file.update({label: kept[idx] for idx, label in enumerate(labels)})
    con.execute(f"CREATE VIEW texts AS {scan('p.title, p.abstract')}")
    return stats


def _raw_batches(sources: list[Path]):
    """(file index, row offset in the file, batch of KEY_COLUMNS) of every file, in reading order."""
    import pyarrow.parquet as pq

    for index, source in enumerate(sources):
        offset = 0
        for batch in pq.ParquetFile(source).iter_batches(batch_size=BATCH_ROWS, columns=list(KEY_COLUMNS)):
            yield index, offset, batch
            offset += batch.num_rows


def _usable(batch, stats: RawReadStats | None):
    """The mask of a batch's rows the build can use; the others are counted in ``stats`` under their first
    reason (None: a scraper CSV's rows, counted when read)."""
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
            if n := pc.sum(mask).as_py():
                stats.dropped[reason] += n
    return keep


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


# -- merging ---------------------------------------------------------------------------------------------
def merge(con) -> tuple[int, int]:
    """Build ``docs`` (and, for the rows that merge, ``numbers``, ``members``, ``doc_codes``); returns (rows
    merged by number, numbers merged by abstract)."""
    # a row is alone when no other row has its number or its abstract key and its codes are unique: it is a
    # document as it stands. The rest is closed: every row of a repeated number or of a shared key is in it.
    con.execute("""
        CREATE TABLE multi AS
        SELECT * FROM rows
        WHERE len(list_distinct(cpc_codes)) <> len(cpc_codes)
           OR publication_number IN (SELECT publication_number FROM rows GROUP BY 1 HAVING count(*) > 1)
           OR akey IN (SELECT akey FROM rows GROUP BY 1 HAVING count(*) > 1)
    """)
    con.execute("""
        CREATE TABLE numbers AS
        SELECT publication_number, min(seq) AS first_seq, arg_min(akey, seq) AS akey, arg_min(bucket, seq) AS bucket,
               coalesce(list(DISTINCT family_id) FILTER (WHERE family_id IS NOT NULL), []) AS families
        FROM multi GROUP BY publication_number
    """)
    con.execute("""
        CREATE TABLE number_codes AS
        SELECT publication_number, code, min(seq::HUGEINT * 65536 + pos) AS ord  -- < 2^64
        FROM (SELECT publication_number, seq, unnest(cpc_codes) AS code, generate_subscripts(cpc_codes, 1) AS pos
              FROM multi)
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
    # lists ordered by sorting structs ({ord, value}) afterwards: an ORDER BY inside an aggregate is held whole
    con.execute("""
        CREATE TABLE docs AS
        SELECT publication_number, seq AS text_seq, bucket, cpc_codes AS codes, []::VARCHAR[] AS others,
               CASE WHEN family_id IS NULL THEN []::VARCHAR[] ELSE [family_id] END AS families,
               NULL::VARCHAR AS split
        FROM rows WHERE seq NOT IN (SELECT seq FROM multi)
        UNION ALL
        SELECT g.publication_number, g.text_seq, g.bucket, c.codes, g.others, g.families, NULL::VARCHAR
        FROM (SELECT m.head AS publication_number,
                     max(CASE WHEN m.publication_number = m.head THEN m.first_seq END) AS text_seq,
                     any_value(m.bucket) AS bucket,
                     coalesce(list_transform(list_sort(list({'o': m.first_seq, 'n': m.publication_number})
                                                       FILTER (WHERE m.publication_number <> m.head)),
                                             lambda x: x.n), []) AS others,
                     list_distinct(flatten(list(m.families))) AS families
              FROM members m GROUP BY m.head) g
        JOIN (SELECT head, list_transform(list_sort(list({'o': ord, 'c': code})), lambda x: x.c) AS codes
              FROM doc_codes GROUP BY head) c ON c.head = g.publication_number
    """)
    n_rows, n_multi, n_numbers, n_docs = con.execute("""
        SELECT (SELECT count(*) FROM rows), (SELECT count(*) FROM multi),
               (SELECT count(*) FROM numbers), (SELECT count(*) FROM docs)
    """).fetchone()
    log.info("%d of %d rows are documents as they stand; %d go through the merge", n_rows - n_multi, n_rows, n_multi)
    n_numbers += n_rows - n_multi
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
