"""Evaluation tables, plots and a Markdown report (``cpc evaluate --report DIR``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

# (row name, key prefix in compute_metrics' flat dict)
LEVEL_ROWS = (("label", ""), ("main group", "main_group_"), ("subclass", "subclass_"), ("class", "class_"), ("section", "section_"))
# (column header, metric key)
TABLE_COLUMNS = (
    ("micro-F1", "micro_f1"),
    ("macro-F1", "macro_f1"),
    ("samples-F1", "samples_f1"),
    ("P", "micro_precision"),
    ("R", "micro_recall"),
    ("P@1", "precision_at_1"),
    ("P@5", "precision_at_5"),
    ("LRAP", "lrap"),
)
F1_PLOT = "per_label_f1.png"
PR_PLOT = "precision_recall.png"
REPORT_FILE = "report.md"
N_LISTED = 10


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3f}"


def level_table(metrics: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows (one per CPC level) of the flat metrics, formatted."""
    header = ["level"] + [name for name, _ in TABLE_COLUMNS]
    rows = [[row] + [_fmt(metrics.get(prefix + key)) for _, key in TABLE_COLUMNS] for row, prefix in LEVEL_ROWS if prefix + "micro_f1" in metrics]
    return header, rows


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Plain text, columns aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths))) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def write_markdown(path: Path, text: str) -> None:
    """Write a benchmark's Markdown result (making its folder) and print it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)


def per_label_table(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str], train_counts: dict[str, int] | None) -> list[dict]:
    """One dict per label: support in the evaluated data, training count (if known), P, R, F1."""
    from sklearn.metrics import precision_recall_fscore_support

    y_true = (y_true > 0).astype(np.uint8)
    y_pred = (y_pred > 0).astype(np.uint8)
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    return [
        {
            "label": code,
            "support": int(support[j]),
            "train_count": None if train_counts is None else train_counts.get(code),
            "precision": float(p[j]),
            "recall": float(r[j]),
            "f1": float(f[j]),
            "predicted": int(y_pred[:, j].sum()),
        }
        for j, code in enumerate(labels)
    ]


def _plot_f1_vs_frequency(path: Path, rows: list[dict], frequency_name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    freq = np.array([r["frequency"] for r in rows], dtype=float)
    f1 = np.array([r["f1"] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.scatter(np.maximum(freq, 0.8), f1, s=14, alpha=0.7, color="#3b6ea5")
    if np.all(freq > 0) and len(freq) > 1 and freq.max() / max(freq.min(), 1) > 20:
        ax.set_xscale("log")
    ax.set_xlabel(frequency_name)
    ax.set_ylabel("F1 (tuned thresholds)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("Per-label F1 against label frequency")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_precision_recall(path: Path, y_true: np.ndarray, scores: np.ndarray, metrics: dict) -> float:
    """Micro-averaged PR curve (every document-label pair is one decision); returns micro average precision."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import average_precision_score, precision_recall_curve

    truth = (y_true > 0).ravel().astype(np.uint8)
    flat = scores.ravel()
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    ap = float("nan")
    if truth.any():
        precision, recall, _ = precision_recall_curve(truth, flat)
        ap = float(average_precision_score(truth, flat))
        ax.plot(recall, precision, color="#3b6ea5", label=f"micro-averaged (AP {ap:.3f})")
    ax.scatter([metrics["micro_recall"]], [metrics["micro_precision"]], color="#c0392b", zorder=3, label="tuned thresholds")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision-recall, all labels")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return ap


def _label_rows_md(rows: list[dict], frequency_name: str) -> str:
    header = ["label", "F1", "P", "R", "support", frequency_name]
    body = [[r["label"], _fmt(r["f1"]), _fmt(r["precision"]), _fmt(r["recall"]), str(r["support"]), str(r["frequency"])] for r in rows]
    return markdown_table(header, body)


def write_report(
    report_dir: str | Path,
    metrics: dict,
    y_true: np.ndarray,
    scores: np.ndarray,
    y_pred: np.ndarray,
    labels: list[str],
    train_counts: dict[str, int] | None = None,
) -> Path:
    """Plots and ``report.md`` in ``report_dir``. ``train_counts`` (label -> training documents) is
    the x axis of the per-label plot; without it, the label's frequency in the evaluated data."""
    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = per_label_table(y_true, y_pred, labels, train_counts)
    known = train_counts is not None and any(r["train_count"] is not None for r in rows)
    frequency_name = "training documents" if known else "documents in the evaluated data"
    for r in rows:
        r["frequency"] = (r["train_count"] or 0) if known else r["support"]
    _plot_f1_vs_frequency(out / F1_PLOT, rows, frequency_name)
    ap = _plot_precision_recall(out / PR_PLOT, y_true, scores, metrics)

    present = sorted((r for r in rows if r["support"] > 0), key=lambda r: (r["f1"], r["support"]))
    absent = [r["label"] for r in rows if r["support"] == 0]
    header, table_rows = level_table(metrics)
    n_listed = min(N_LISTED, max(1, len(present) // 2))  # worst and best lists never overlap
    text = [
        "# Evaluation report",
        "",
        f"- model: `{metrics.get('model', '?')}`",
        f"- data: `{metrics.get('data', '?')}` ({metrics.get('source', '?')})",
        f"- documents scored: {metrics['n_docs']}"
        + (f" of {metrics['n_docs_read']} read" if "n_docs_read" in metrics else "")
        + ("" if metrics.get("all_docs") else " (only documents with at least one code in the model's labels)"),
        f"- labels: {metrics['n_labels']}; thresholds: {metrics.get('thresholds_mode', '?')}",
        f"- micro-averaged average precision: {_fmt(ap)}",
    ]
    if metrics.get("rows_skipped"):
        text.append(f"- raw rows skipped: {metrics['rows_skipped']} ({metrics.get('rows_skipped_reasons')})")
    text += [
        "",
        "## Metrics per CPC level",
        "",
        "Upper levels take the CPC ancestors of the true and the predicted codes.",
        "",
        markdown_table(header, table_rows),
        "",
        f"## Worst {n_listed} labels (present in the evaluated data)",
        "",
        _label_rows_md(present[:n_listed], frequency_name),
        "",
        f"## Best {n_listed} labels",
        "",
        _label_rows_md(present[::-1][:n_listed], frequency_name),
        "",
    ]
    if absent:
        text += [f"{len(absent)} labels never occur in the evaluated data: {', '.join(absent[:30])}{' …' if len(absent) > 30 else ''}", ""]
    text += [
        "## Plots",
        "",
        f"![per-label F1 against label frequency]({F1_PLOT})",
        "",
        f"![precision-recall curve]({PR_PLOT})",
        "",
    ]
    path = out / REPORT_FILE
    path.write_text("\n".join(text))
    return path
