"""Model cards: Hub YAML (pipeline_tag, model-index with the test metrics) and a body people read."""

from __future__ import annotations

import json
from pathlib import Path

from cpc_models.endpoint import CARD_SECTION as ENDPOINT_SECTION
from cpc_models.files import CARD_FILE, CONFIG_FILE

DATASET_ID = "patent-cpc-ai"
CARD_METRICS = (
    ("micro_f1", "f1", "micro-F1"),
    ("macro_f1", "f1", "macro-F1"),
    ("samples_f1", "f1", "samples-F1"),
    ("precision_at_1", "precision_at_1", "P@1"),
    ("precision_at_5", "precision_at_5", "P@5"),
    ("lrap", "lrap", "LRAP"),
    ("subclass_micro_f1", "f1", "subclass micro-F1"),
    ("section_micro_f1", "f1", "section micro-F1"),
)


def card_metadata(name: str, metrics: dict, library: str) -> dict:
    test = metrics["test"]
    return {
        "language": ["en"],
        "license": "apache-2.0",
        "library_name": library,
        "pipeline_tag": "text-classification",
        "tags": ["patents", "cpc", "multi-label-classification"],
        "datasets": [DATASET_ID],
        "metrics": ["f1", "precision"],
        "model-index": [
            {
                "name": name,
                "results": [
                    {
                        "task": {"type": "text-classification", "name": "Multi-label CPC classification"},
                        "dataset": {"name": "CPC codes of AI/ML patents", "type": DATASET_ID, "split": "test"},
                        "metrics": [
                            {"type": mtype, "name": label, "value": round(float(test[key]), 4)}
                            for key, mtype, label in CARD_METRICS
                            if key in test
                        ],
                    }
                ],
            }
        ],
    }


def _metrics_table(metrics: dict) -> str:
    rows = ["| metric | test | validation |", "|---|---|---|"]
    for key, _, label in CARD_METRICS:
        if key in metrics["test"]:
            rows.append(f"| {label} | {metrics['test'][key]:.3f} | {metrics['validation'][key]:.3f} |")
    rows.append(f"| documents scored | {metrics['test']['n_docs']} | {metrics['validation']['n_docs']} |")
    return "\n".join(rows)


def _evidence_lines(metrics: dict) -> str:
    """What the folder says about calibration, CPC levels and scope (issue 14), where it has them."""
    lines = []
    ece = metrics.get("test_ece")
    if ece:
        lines.append(
            f"- Scores are calibrated on validation (`calibration.json`, Platt per code): expected calibration error on "
            f"test {ece['uncalibrated']:.4f} uncalibrated, {ece['calibrated']:.4f} calibrated."
        )
    levels = metrics.get("levels_test")
    if levels:
        cells = ", ".join(f"{k.replace('_', ' ')} {v['micro_f1']:.3f}" for k, v in levels.items())
        lines.append(
            f"- Each CPC level has its own score and threshold (`levels.json`); test micro-F1 of each level's own decisions: {cells}."
        )
    scope = metrics.get("scope")
    if scope:
        lines.append(
            f"- Out of scope (`scope.json`): flagged when the most similar training patents mostly carry none of its codes "
            f"(similarity-weighted share below {scope['min_labelled_share']:.2f} of the {scope['k']} nearest) or the nearest "
            f"is less similar than {scope['min_similarity']:.2f} (0: never)."
        )
    return "\n".join(lines) + ("\n" if lines else "")


def card_body(name: str, train_config: dict, metrics: dict, description: str, stock_pipeline: bool) -> str:
    n_labels = metrics["test"]["n_labels"]
    usage = (
        (
            f'from transformers import pipeline\nclf = pipeline("text-classification", model="{name}", top_k=5)\n'
            if stock_pipeline
            else ""
        )
        + f'from cpc_models import CpcPredictor\npredictor = CpcPredictor.from_pretrained("hub/models/{name}")\npredictor.predict(["A neural network is trained ..."])'
    )
    return f"""
# {name}

{description or "A multi-label classifier of Cooperative Patent Classification (CPC) codes for patent abstracts."}

## Intended use

Suggest CPC subgroup codes for a patent title and abstract (English), e.g. to triage or search AI/ML patents.
It predicts {n_labels} codes: the CPC codes found in at least 1% of the training patents of the `{DATASET_ID}`
dataset. Treat its output as suggestions for a patent analyst, not as an official classification.

## Limits

- Trained on patents found by 20 AI/ML queries: mostly G06N / G06F / G06V; codes outside its {n_labels} labels
  are never predicted, and text far from AI/ML is out of its domain.
- Scores are per code (sigmoid-like), not a distribution; thresholds were tuned for micro-F1.
- Inputs longer than the model's maximum length are truncated.
{_evidence_lines(metrics)}
## Training data

`{DATASET_ID}` (built by `cpc data build`): title + abstract, deduplicated by publication number and by
normalised abstract, split by a hash of the abstract, so no patent or patent family is in two splits.

## Evaluation protocol

{metrics["protocol"]}. Thresholds (`thresholds.json`, mode `{metrics.get("thresholds_mode")}`) were tuned on the
validation split only; the test split was scored once. Roll-ups take the CPC ancestors of true and predicted codes.

{_metrics_table(metrics)}

For comparison, the original project reported micro-F1 0.28 / macro-F1 0.14 at best (0.22 / 0.065 for its int8
ONNX model) on a random split with the same patents in train and validation and a fixed 0.5 threshold.

## Usage

```python
{usage}
```

{ENDPOINT_SECTION}
## Training configuration

```json
{json.dumps(train_config, indent=2, default=str)}
```
"""


ARRAY_LAYOUT = """
## Files and array layout (reading the model without this project)

No pickle: JSON, text and NumPy `.npy` files only (`numpy.load`; sparse matrices as SciPy CSR parts).

- `config.json`: `id2label` (column j of every score matrix is the code `id2label[str(j)]`), `cpc_model_type`.
- `thresholds.json`: `per_label` threshold per code (tuned on validation), `global` for codes without one;
  a code is predicted when its score >= its threshold, and every text keeps at least its best code.
- `ensemble.json` (ensembles): `members` (`path`, `weight`); the score is the weighted mean of the members' scores.
- `vectorizer/` (TF-IDF members; an ensemble keeps one at its top, and each TF-IDF member's `features.json` gives its
  path): `vectorizer.json` lists the blocks in order: `field` (`text`, or `title` = the text before its first ". ";
  model input is "title. abstract"), scikit-learn `TfidfVectorizer` `params`, `weight` (the block's features are
  multiplied by it); `vocabulary-<block>.txt` (`vocabulary-word.txt`, `vocabulary-title.txt`) holds the term of
  column i on line i, `idf-<block>.npy` (`idf-word.npy`, `idf-title.npy`) the block's idf (float32). The features of
  a text are the blocks' L2-normalised TF-IDF rows, each times its weight, concatenated. (Older folders:
  `vectorizers.json` + `idf.npz` in the member, same content.)
- `linear/` (one-vs-rest linear models): `coef_data.npy` (float32 of float16 precision), `coef_indices.npy`,
  `coef_indptr.npy` = a CSR matrix `W` (n_features, n_labels); `intercept.npy`; `linear.json`: `shape`, `sigmoid` =
  (a, b). Score = 1 / (1 + exp(-(a * (x W + intercept) + b))). (Older folders: `linear.npz`, the same as CSC.)
- `bank/` (nearest-neighbour vote): `postings_data.npy`, `postings_indices.npy`, `postings_indptr.npy` = the
  training patents' features transposed (n_features, n_train) as CSR; `norms.npy` (each patent's L2 norm);
  `labels_indices.npy`, `labels_indptr.npy` (each patent's label columns, CSR); `docs.jsonl` + `docs_offsets.npy`
  (publication number, title, codes per patent, one JSON per line, and the byte offset of each line); `bank.json`:
  `k`, `temperature`. With s = x Bᵀ, take the k largest s, weights w = exp(temperature * (s - max s)); the score of
  a code is the w-weighted share of those k patents that carry it. `short_rows.npy`,
  `short_data.npy`, `short_indices.npy`, `short_indptr.npy`: the patents whose norm is below the 1st
  percentile (`short_floor` in `bank.json`) and their postings, for the ranking of similar patents by cosine.
  (Older folders: `knn_bank.npz` + `knn_docs.json`.) Arrays are plain `.npy`, read memory-mapped.
- `calibration.json` (where present): per code (a, b) in `per_label`, else `global`; the calibrated score is
  sigmoid(a * logit(s) + b) of the model's score s (s clipped to [1e-6, 1 - 1e-6]); thresholds
  apply to calibrated scores. `levels.json`: per CPC level (main group, subclass, section) a threshold and a
  calibration (a, b) of 1 - prod(1 - p) over the calibrated scores of the codes under the group (its `score` field).
  `scope.json`: a text is flagged out of scope when the similarity-weighted share of its `k` nearest training patents
  (by cosine similarity, knn bank) that carry any label is below `min_labelled_share`.
- `metrics.json`, `train_config.json`: the test/validation metrics of the card and the training settings (for people).
- `handler.py`, `requirements.txt`: the Inference Endpoints custom handler (it runs this project's predictor) and
  what it imports (see Inference Endpoints above).
"""


def write_model_card(model_dir: str | Path, train_config: dict, metrics: dict, description: str = "") -> Path:
    import yaml

    model_dir = Path(model_dir)
    from cpc_models.registry import folder_kind

    config = json.loads((model_dir / CONFIG_FILE).read_text()) if (model_dir / CONFIG_FILE).exists() else {}
    kind = folder_kind(model_dir, config)
    name = model_dir.name
    header = yaml.safe_dump(card_metadata(name, metrics, kind.library_name), sort_keys=False, allow_unicode=True)
    path = model_dir / CARD_FILE
    layout = "" if kind.stock_pipeline else ARRAY_LAYOUT
    path.write_text(
        f"---\n{header}---\n{card_body(name, train_config, metrics, description, kind.stock_pipeline)}{layout}"
    )
    return path
