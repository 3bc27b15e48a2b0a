"""The label vocabulary and what the card counts, from the merged documents in DuckDB (``cpc_dataset.merge``).

Codes become labels by their number of training documents (``--min-label-freq``), superseded symbols
(``cpc_dataset.superseded``, counted here, decided there) excepted. A document's labels are the vocabulary
indices of its codes, in the order of its codes (``label_lists``, on each batch written).
"""

from __future__ import annotations

import math
from collections import Counter

from cpc_dataset.superseded import decide_superseded, superseded_candidates

SPLITS = ("train", "validation", "test")
CODES_CAP = 60  # the codes-per-patent plot puts 60 or more in one bin


def label_minimum(min_label_freq: float, n_train: int) -> int:
    """Training documents a code needs to be a label: a share (< 1) of ``n_train`` or a count (>= 1)."""
    minimum = math.ceil(min_label_freq * n_train - 1e-9) if min_label_freq < 1 else int(min_label_freq)
    return max(minimum, 1)


def train_code_counts(con) -> dict[str, int]:
    """Training documents per code (the table ``code_counts``)."""
    con.execute("""
        CREATE TABLE code_counts AS
        SELECT code, count(*) AS n FROM (SELECT unnest(codes) AS code FROM docs WHERE split = 'train') GROUP BY code
    """)
    return dict(con.execute("SELECT code, n FROM code_counts").fetchall())


def find_superseded_sql(con, counts: dict[str, int], n_train: int) -> dict:
    """``cpc_dataset.superseded``'s rule, with the co-occurrences counted in DuckDB (pairs within each document's
    code list: no join of the documents with themselves)."""
    import pyarrow as pa

    candidates = sorted(superseded_candidates(counts))
    if not candidates:
        return {}
    con.register("_candidates", pa.table({"code": pa.array(candidates, pa.string())}))
    rows = con.execute("""
        WITH pairs AS (
            SELECT a, unnest(list_filter(codes, lambda x: x <> a AND left(x, 3) = left(a, 3))) AS b
            FROM (SELECT codes, unnest(codes) AS a FROM docs  -- documents with two codes of one class, only
                  WHERE split = 'train' AND len(list_distinct(list_transform(codes, lambda x: left(x, 3)))) < len(codes))
            WHERE a IN (SELECT code FROM _candidates))
        SELECT p.a, p.b, count(*) AS n
        FROM pairs p
        JOIN code_counts ca ON ca.code = p.a
        JOIN code_counts cb ON cb.code = p.b AND cb.n > ca.n
        GROUP BY ALL
    """).fetchall()
    con.unregister("_candidates")
    together: dict[str, dict[str, int]] = {c: {} for c in candidates}
    for a, b, n in rows:
        together[a][b] = n
    return decide_superseded(counts, together, n_train)


def label_lists(codes, vocabulary):
    """Each document's labels (vocabulary indices of its codes, in its codes' order) from an Arrow list array of
    codes and an Arrow array of the vocabulary; vectorised, for a batch of documents at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes
    index = pc.index_in(pc.list_flatten(codes), value_set=vocabulary)
    known = index.is_valid()
    parents = pc.list_parent_indices(codes).to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[known.to_numpy(zero_copy_only=False)], minlength=len(codes))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), index.filter(known).cast(pa.int64()))


def corpus_stats(con, labels_per_split: dict[str, Counter]) -> dict:
    """Sizes the summary, the card and the plots show; ``labels_per_split``: {split: {labels: documents}}, counted
    as the splits were written."""
    split_sizes = dict.fromkeys(SPLITS, 0)
    split_sizes.update(dict(con.execute("SELECT split, count(*) FROM docs GROUP BY split").fetchall()))
    without = {s: labels_per_split.get(s, Counter())[0] for s in SPLITS}
    labels_histogram: Counter = Counter()
    for histogram in labels_per_split.values():
        labels_histogram.update(histogram)
    codes_sum, distinct = con.execute("""
        SELECT (SELECT sum(len(codes)) FROM docs), (SELECT count(DISTINCT code) FROM (SELECT unnest(codes) AS code FROM docs))
    """).fetchone()
    return {
        "split_sizes": split_sizes,
        "documents_without_labels": without,
        "distinct_codes": distinct,
        "codes_total": int(codes_sum or 0),
        "labels_total": sum(n * docs for n, docs in labels_histogram.items()),
        "codes_histogram": dict(
            con.execute(f"SELECT least(len(codes), {CODES_CAP}), count(*) FROM docs GROUP BY 1 ORDER BY 1").fetchall()
        ),
        "labels_histogram": {n: labels_histogram[n] for n in sorted(labels_histogram) if labels_histogram[n]},
    }


def documents_query() -> str:
    """Every document as the dataset folder stores it (labels aside), by split, then in publication-number order."""
    return """
        SELECT d.split, d.publication_number, t.title, t.abstract, d.codes AS cpc_codes,
               d.others AS other_publication_numbers
        FROM texts t JOIN docs d ON d.text_seq = t.seq  -- docs on the right: the hash side (build.write_splits)
        ORDER BY d.split, d.publication_number
    """
