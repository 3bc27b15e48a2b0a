"""The label vocabulary and what the card counts, from the merged documents in DuckDB (``cpc_dataset.merge``).

Codes become labels by their number of training documents (``--min-label-freq``), superseded symbols
(``cpc_dataset.superseded``, counted here, decided there) excepted; ``doc_labels`` holds each document's labels
as vocabulary indices, in the order of its codes.
"""

from __future__ import annotations

import math

from cpc_dataset.superseded import decide_superseded, superseded_candidates

SPLITS = ("train", "validation", "test")
CODES_CAP = 60  # the codes-per-patent plot puts 60 or more in one bin


def label_minimum(min_label_freq: float, n_train: int) -> int:
    """Training documents a code needs to be a label: a share (< 1) of ``n_train`` or a count (>= 1)."""
    minimum = math.ceil(min_label_freq * n_train - 1e-9) if min_label_freq < 1 else int(min_label_freq)
    return max(minimum, 1)


def train_code_counts(con) -> dict[str, int]:
    con.execute("""
        CREATE TABLE train_codes AS
        SELECT dc.head, dc.code FROM doc_codes dc JOIN docs d ON d.publication_number = dc.head WHERE d.split = 'train'
    """)
    con.execute("CREATE TABLE code_counts AS SELECT code, count(*) AS n FROM train_codes GROUP BY code")
    return dict(con.execute("SELECT code, n FROM code_counts").fetchall())


def find_superseded_sql(con, counts: dict[str, int], n_train: int) -> dict:
    """``cpc_dataset.superseded``'s rule, with the co-occurrences counted in DuckDB."""
    import pyarrow as pa

    candidates = sorted(superseded_candidates(counts))
    if not candidates:
        return {}
    con.register("_candidates", pa.table({"code": pa.array(candidates, pa.string())}))
    rows = con.execute("""
        SELECT a.code, b.code, count(*) AS n
        FROM train_codes a
        JOIN _candidates USING (code)
        JOIN code_counts ca ON ca.code = a.code
        JOIN train_codes b ON b.head = a.head AND b.code <> a.code AND left(b.code, 3) = left(a.code, 3)
        JOIN code_counts cb ON cb.code = b.code AND cb.n > ca.n
        GROUP BY ALL
    """).fetchall()
    con.unregister("_candidates")
    together: dict[str, dict[str, int]] = {c: {} for c in candidates}
    for a, b, n in rows:
        together[a][b] = n
    return decide_superseded(counts, together, n_train)


def assign_labels(con, vocabulary: list[str]) -> None:
    import pyarrow as pa

    con.register("_vocab", pa.table({"code": vocabulary, "idx": pa.array(range(len(vocabulary)), pa.int64())}))
    con.execute("CREATE OR REPLACE TABLE vocab AS SELECT * FROM _vocab")
    con.unregister("_vocab")
    con.execute("""
        CREATE TABLE doc_labels AS
        SELECT dc.head, list(v.idx ORDER BY dc.ord) AS labels FROM doc_codes dc JOIN vocab v USING (code) GROUP BY dc.head
    """)
    con.execute("""
        CREATE TABLE doc_sizes AS
        SELECT d.publication_number, d.split, c.n_codes, coalesce(len(l.labels), 0) AS n_labels
        FROM docs d
        JOIN (SELECT head, count(*) AS n_codes FROM doc_codes GROUP BY head) c ON c.head = d.publication_number
        LEFT JOIN doc_labels l ON l.head = d.publication_number
    """)


def corpus_stats(con) -> dict:
    """Sizes the summary, the card and the plots show."""
    split_sizes = dict.fromkeys(SPLITS, 0)
    without = dict.fromkeys(SPLITS, 0)
    for split, n, n_without in con.execute(
        "SELECT split, count(*), count(*) FILTER (WHERE n_labels = 0) FROM doc_sizes GROUP BY split"
    ).fetchall():
        split_sizes[split], without[split] = n, n_without
    codes_sum, labels_sum = con.execute("SELECT sum(n_codes), sum(n_labels) FROM doc_sizes").fetchone()
    return {
        "split_sizes": split_sizes,
        "documents_without_labels": without,
        "distinct_codes": con.execute("SELECT count(DISTINCT code) FROM doc_codes").fetchone()[0],
        "codes_total": int(codes_sum or 0),
        "labels_total": int(labels_sum or 0),
        "codes_histogram": dict(
            con.execute(f"SELECT least(n_codes, {CODES_CAP}), count(*) FROM doc_sizes GROUP BY 1 ORDER BY 1").fetchall()
        ),
        "labels_histogram": dict(
            con.execute("SELECT n_labels, count(*) FROM doc_sizes GROUP BY 1 ORDER BY 1").fetchall()
        ),
    }


def split_query(split: str) -> str:
    """The rows of one split as the dataset folder stores them, in publication-number order."""
    return f"""
        SELECT d.publication_number, t.title, t.abstract, c.codes AS cpc_codes,
               coalesce(l.labels, []::BIGINT[]) AS labels, d.others AS other_publication_numbers
        FROM docs d
        JOIN texts t ON t.seq = d.text_seq
        JOIN (SELECT head, list(code ORDER BY ord) AS codes FROM doc_codes GROUP BY head) c ON c.head = d.publication_number
        LEFT JOIN doc_labels l ON l.head = d.publication_number
        WHERE d.split = '{split}'
        ORDER BY d.publication_number
    """
