"""The dataset card: YAML the Hub and ``load_dataset`` read, and a body people read."""

from __future__ import annotations

from pathlib import Path

from cpc_dataset.queries import QUERIES

SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


def size_category(n: int) -> str:
    return next((name for limit, name in SIZE_CATEGORIES if n < limit), "n>1M")


def split_infos(folder: Path, splits: list[str]) -> dict:
    """``dataset_info`` sizes as ``datasets`` records them: per split name, num_bytes (Arrow bytes of the split's
    table), num_examples; plus download_size (parquet bytes) and dataset_size. ``load_dataset`` warns that "the
    splits field in YAML is malformed" when num_bytes is missing."""
    import pyarrow.parquet as pq

    infos, download = [], 0
    for split in splits:
        files = sorted((folder / "data").glob(f"{split}-*.parquet"))
        num_bytes = num_rows = 0
        for f in files:  # one row group at a time: a split of millions of rows is never loaded whole
            pf = pq.ParquetFile(f)
            for i in range(pf.num_row_groups):
                group = pf.read_row_group(i)
                num_bytes, num_rows = num_bytes + group.nbytes, num_rows + group.num_rows
        infos.append({"name": split, "num_bytes": num_bytes, "num_examples": num_rows})
        download += sum(f.stat().st_size for f in files)
    return {"splits": infos, "download_size": download, "dataset_size": sum(i["num_bytes"] for i in infos)}


def card_metadata(report, folder: Path) -> dict:
    from cpc_dataset.parquet import dataset_features

    summary = report.summary()
    features = dataset_features(report.vocabulary)
    return {
        "language": ["en"],
        "license": "other",
        "license_name": "google-patents-public-text",
        "pretty_name": "CPC codes of AI/ML patents (Google Patents)",
        "task_categories": ["text-classification"],
        "task_ids": ["multi-label-classification"],
        "size_categories": [size_category(summary["documents"])],
        "tags": ["patents", "cpc", "multi-label"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in summary["split_sizes"]],
            }
        ],
        "dataset_info": {"features": features._to_yaml_list(), **split_infos(folder, list(summary["split_sizes"]))},
    }


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (no pipes, no HTML)."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def card_body(report, plots: dict[str, str], titles: dict[str, str]) -> str:
    s = report.summary()
    files = list(report.read.rows_per_file.items())
    query_rows = [
        [i + 1, QUERIES[i] if len(files) == len(QUERIES) else "?", name, n] for i, (name, n) in enumerate(files)
    ]
    dropped = [[reason, n] for reason, n in sorted(s["rows_dropped"].items())] or [["(none)", 0]]
    n_train = s["split_sizes"]["train"]
    label_rows = [
        [f"`{code}`", n, f"{100 * n / n_train:.1f}%"]
        for code, n in sorted(report.label_counts.items(), key=lambda kv: -kv[1])
    ]
    label_header = ["code", "training documents", "share"] + (["title"] if titles else [])
    label_rows = [row + [_cell(titles.get(row[0].strip("`"), ""))] for row in label_rows] if titles else label_rows
    freq = report.config.min_label_freq
    rule = f"{freq:g} of training documents" if freq < 1 else f"{int(freq)} training documents"
    return f"""
# CPC codes of AI/ML patents (Google Patents)

Patent abstracts with their Cooperative Patent Classification (CPC) codes, for multi-label classification.
Built by `cpc data build` (package `patent-cpc`) from a raw scrape of Google Patents, October 2025.

## Source

{_source_intro(files)}

{_table(["#", "query", "file", "usable rows"], query_rows)}

## Cleaning

- {s["rows"]} raw rows in {s["files"]} files. Code lists are parsed as literals (never executed).
- Text is NFKC-normalised, control characters removed, whitespace collapsed.
- Codes are normalised (`G06N 3/08`, `G06N0003080000` -> `G06N3/08`); {sum(s["codes_dropped"].values())} strings that are not CPC symbols were dropped.
- Rows dropped:

{_table(["reason", "rows"], dropped)}

- {s["duplicate_publication_numbers_merged"]} rows repeated a publication number (found by several queries) and were merged.
- {s["duplicate_abstracts_merged"]} publications shared a normalised abstract (case, punctuation and spacing ignored) with another,
  usually one invention filed in several countries: each such family is one document, represented by the member
  with the most codes, with the family's codes united; the other numbers are in `other_publication_numbers`.

## Splits

Each document's split is fixed by a SHA-256 hash of its normalised abstract ({"/".join(map(str, report.config.split_percent))} train/validation/test),
so a document never changes split when the corpus grows, and no abstract (hence no family) straddles two splits.

{_table(["split", "documents", "without labels"], [[k, v, s["documents_without_labels"][k]] for k, v in s["split_sizes"].items()])}

## Fields

- `publication_number`: e.g. `US11532378B2`
- `title`, `abstract`: cleaned text
- `cpc_codes`: every CPC code of the document (family), normalised
- `labels`: the codes that are in the label vocabulary, as class indices (`ClassLabel`)
- `other_publication_numbers`: family members merged into this document

## Statistics

- {s["documents"]} documents, {s["distinct_codes"]} distinct CPC codes, {s["mean_codes_per_document"]} codes per document on average.
- Label vocabulary: the {s["labels"]} codes found in at least {rule}, superseded symbols excepted ({s["mean_labels_per_document"]} labels per document on average).
  Documents whose codes are all outside the vocabulary stay, with an empty `labels` list. The vocabulary is also in `labels.json`.

![Label frequency]({plots["labels"]})

![Codes per patent]({plots["codes"]})

## Labels

{_table(label_header, label_rows)}

## Superseded symbols

{superseded_section(report)}

## Usage

```python
from datasets import load_dataset
ds = load_dataset("path/to/patent-cpc-ai")          # or the Hub id
names = ds["train"].features["labels"].feature.names
```

## Limitations

- The corpus is what 20 AI/ML queries found: heavily skewed to G06N/G06F/G06V; not a sample of all patents.
- CPC codes are the leaf codes shown on Google Patents at scrape time; reclassification changes them.
- Machine-translated abstracts (CN/KR/JP) read differently from native English ones.
- Near-duplicate abstracts that differ by more than case, spacing or punctuation are not merged.
- Patent text is public; check Google Patents' terms before redistributing.
"""


def _source_intro(files: list[tuple[str, int]]) -> str:
    scraped = (
        f"Patents found on Google Patents by {len(QUERIES)} AI/ML search queries, then scraped one patent page at a "
        "time\n(publication number, title, abstract, CPC leaf codes). Abstracts of CN, KR and JP patents are Google's "
        "machine\ntranslations."
    )
    if not any(name.endswith(".parquet") for name, _ in files):
        return scraped + " One raw CSV per query:"
    return (
        "Raw files merged into one corpus: scraped Google Patents pages (`.csv`, one per query) and bulk imports\n"
        "(`.parquet`, written by `cpc data import` from PatentsView tables, BigQuery `patents.publications` exports\n"
        "or other tables). One row per file:"
    )


def superseded_section(report) -> str:
    from cpc_dataset.superseded import MIN_DOCUMENTS, MIN_SHARE

    found = sorted(getattr(report, "superseded", {}).values(), key=lambda x: -x.documents)
    intro = (
        "The corpus mixes CPC versions: a symbol deleted in a CPC revision stays on patents classified before it, beside its "
        f"replacement. A symbol on at least {MIN_DOCUMENTS} training documents is taken as superseded when at least "
        f"{100 * MIN_SHARE:g}% of them also carry one more frequent symbol of the same CPC class (indexing codes, main group 2000 "
        "and above, are never candidates). Superseded symbols stay in `cpc_codes` but are never labels; `labels.json` lists them "
        'under `superseded`. "known" marks the ones the CPC 2023.01 concordance lists as deleted with that replacement.'
    )
    if not found:
        return intro + "\n\nNone found."
    n_labels = sum(1 for s in found if s.documents >= _label_minimum(report))
    rows = [
        [f"`{s.code}`", f"`{s.replaced_by}`", s.documents, f"{100 * s.share:.1f}%", "yes" if s.known else "no"]
        for s in found
    ]
    return (
        f"{intro}\n\n{len(found)} superseded symbols found; {n_labels} of them are frequent enough that they would otherwise be labels.\n\n"
        + _table(["symbol", "replaced by", "training documents", "of them with the replacement", "known"], rows)
    )


def _label_minimum(report) -> int:
    from cpc_dataset.vocabulary import label_minimum

    return label_minimum(report.config.min_label_freq, report.split_sizes["train"])


def write_card(path: Path, report, plots: dict[str, str], titles: dict[str, str]) -> None:
    """``titles``: code -> CPC title for the label table (empty where the raw folder has none)."""
    import yaml

    header = yaml.safe_dump(card_metadata(report, path.parent), sort_keys=False, allow_unicode=True)
    path.write_text(f"---\n{header}---\n{card_body(report, plots, titles)}")
