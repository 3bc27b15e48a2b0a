"""The card's figures: label frequencies and codes per patent."""

from __future__ import annotations

from pathlib import Path

LABEL_PLOT = "label_frequency.png"
CODES_PLOT = "codes_per_patent.png"


def write_plots(out: Path, report) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = sorted(report.label_counts.values(), reverse=True)
    n_train = report.split_sizes["train"]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    ax.bar(range(len(counts)), [100 * c / n_train for c in counts], width=1.0, color="#3b6ea5")
    ax.set_xlabel(f"label rank (of {len(counts)} labels)")
    ax.set_ylabel("% of training documents")
    ax.set_title("Label frequency in the training split")
    fig.tight_layout()
    fig.savefig(out / LABEL_PLOT)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    codes = report.stats["codes_histogram"]  # codes per document (60: 60 or more) -> documents
    labels = report.stats["labels_histogram"]
    top = max(max(codes, default=0), 1)
    bins = range(0, min(top, 60) + 2)
    ax.hist(list(codes), bins=bins, weights=list(codes.values()), alpha=0.7, label="CPC codes (all)")
    ax.hist(list(labels), bins=bins, weights=list(labels.values()), alpha=0.7, label="labels (codes in the vocabulary)")
    ax.set_xlabel("codes per patent (60 = 60 or more)")
    ax.set_ylabel("patents")
    ax.legend()
    ax.set_title("Codes per patent")
    fig.tight_layout()
    fig.savefig(out / CODES_PLOT)
    plt.close(fig)
    return {"labels": LABEL_PLOT, "codes": CODES_PLOT}
