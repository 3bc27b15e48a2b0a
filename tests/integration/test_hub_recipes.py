"""The three publishing recipes (scripts/publish_{roberta_base,bert_base_uncased,distilroberta_base}.sh) run whole —
train with fastai, evaluate, export, quantize, push the fp32 repo and its int8 twin — on tiny random models of the
same architectures, against the test Hub; then the published repos are used with stock tools only:
``transformers.pipeline`` on the fp32 repo, ``onnxruntime`` on the int8 repo's file, each card's snippet as written.
"""

from __future__ import annotations

import ast
import json
import re
import sys

import pytest

from tests.fixtures.hub import OWNER, running_hub
from tests.integration.test_hub import python, run

pytest.importorskip("fastai")
pytestmark = pytest.mark.integration

RECIPES = [
    ("roberta", "roberta_base", "roberta-base"),
    ("bert", "bert_base_uncased", "bert-base-uncased"),
    ("distilroberta", "distilroberta_base", "distilroberta-base"),
]
TRAIN_ARGS = [
    "--max-length",
    "64",
    "--batch-size",
    "16",
    "--epochs-frozen",
    "1",
    "--epochs-unfrozen",
    "1",
    "--lr",
    "1e-2",
    "--device",
    "cpu",
    "--no-progress",
    "--no-lr-find",
]
TEXT = "A neural network is trained with backpropagation to classify images of handwritten digits."
# Run a card's snippet with this project's packages made unimportable: stock tools only.
NO_PROJECT = "import sys\nfor m in ('cpc_models', 'cpc_dataset', 'spaces'):\n    sys.modules[m] = None\n"


@pytest.fixture(scope="module")
def hub_and_data(tmp_path_factory):
    from tests.conftest import make_rows, write_raw_csv

    tmp = tmp_path_factory.mktemp("recipes")
    write_raw_csv(tmp / "raw" / "patent_details_1.csv", make_rows(300))
    with running_hub(tmp) as hub:
        env = hub.env(tmp / "home")
        run(
            [
                sys.executable,
                "-m",
                "spaces.cli",
                "data",
                "build",
                "--raw",
                str(tmp / "raw"),
                "--out",
                str(tmp / "dataset"),
            ],
            env,
        )
        yield hub, env, tmp


def snippet(card: str) -> str:
    return re.search(r"## Usage\s*\n\s*```python\n(.*?)\n```", card, re.S).group(1)


@pytest.mark.parametrize("arch, recipe, base_name", RECIPES)
def test_recipe_pushes_fp32_and_int8_repos_that_stock_tools_load(hub_and_data, arch, recipe, base_name):
    from tests.unit.test_transformer import tiny_base

    hub, env, tmp = hub_and_data
    from tests.conftest import make_rows

    texts = [r["abstract"] for r in make_rows(300)]
    base = tiny_base(tmp / f"base-{arch}", arch, texts)
    name, out = f"{base_name}-cpc", tmp / f"model-{arch}"
    recipe_env = {
        **env,
        "OWNER": OWNER,
        "BASE": str(base),
        "DATASET": str(tmp / "dataset"),
        "OUT": str(out),
        "CPC": f"{sys.executable} -m spaces.cli",
        "PYTHON": sys.executable,
        "EXPORT_ARGS": "--calibration-docs 16",
    }
    done = run(["bash", f"scripts/publish_{recipe}.sh", *TRAIN_ARGS], recipe_env, timeout=600)
    assert done.stdout.count("commit") == 2, done.stdout
    repo, twin = f"{OWNER}/{name}", f"{OWNER}/{name}-int8"

    listing = json.loads(
        python(
            env,
            f"""
import json
from huggingface_hub import HfApi, hf_hub_download
api = HfApi()
print(json.dumps({{r: [api.list_repo_files(r), open(hf_hub_download(r, "README.md")).read()] for r in ("{repo}", "{twin}")}}))""",
        )
    )
    (files, card), (twin_files, twin_card) = listing[repo], listing[twin]
    assert "model.safetensors" in files and "onnx/model.onnx" in files and "onnx/model_quantized.onnx" not in files
    assert (
        "onnx/model_quantized.onnx" in twin_files
        and "model.safetensors" not in twin_files
        and "onnx/model.onnx" not in twin_files
    )
    assert not [f for f in files + twin_files if "predictions" in f]
    for text in (card, twin_card):
        assert "model-index" in text and re.search(r"value: 0?\.\d+|value: [01]\.0", text)

    # each card's usage snippet as written: its stock part with this project unimportable, then the rest
    (stock_fp32, _, ours_fp32), (stock_int8, _, ours_int8) = (
        snippet(c).partition("from cpc_models import") for c in (card, twin_card)
    )
    assert "pipeline(" in stock_fp32 and "onnxruntime" in stock_int8 and "model_quantized.onnx" in stock_int8
    assert ('"calibration.json"' in stock_int8) == (
        out / "calibration.json"
    ).exists()  # thresholds apply to calibrated scores
    printed = (
        python(
            {**env, "PYTHONPATH": ""},
            NO_PROJECT
            + stock_fp32
            + "\n"
            + stock_int8
            + f"""
import json
assert probs.shape == (1, len(id2label)) and ((probs > 0) & (probs < 1)).all()
print(json.dumps(clf([{TEXT!r}])[0]))""",
            cwd=tmp,
        )
        .strip()
        .splitlines()
    )
    stock, int8_decided = (
        json.loads(printed[-1]),
        ast.literal_eval(printed[-2]),
    )  # the snippet prints the int8 decision last
    twin_codes = json.loads(
        python(
            env,
            f"""
import json
from cpc_models import CpcPredictor
print(json.dumps([c.code for c in CpcPredictor.from_pretrained("{twin}").predict(["A neural network is trained to classify images ..."])[0].codes]))""",
        )
    )
    assert [code for code, _ in int8_decided] == twin_codes  # the card's stock code decides as the project does
    ours = json.loads(
        python(
            env,
            "from cpc_models import"
            + ours_fp32
            + "\nfrom cpc_models import"
            + ours_int8
            + f"""
import json
from cpc_models import CpcPredictor
p = CpcPredictor.from_pretrained("{out}", backend="torch")
print(json.dumps(dict(zip(p.labels, map(float, p.scorer.predict_proba([{TEXT!r}])[0])))))""",
        )
        .strip()
        .splitlines()[-1]
    )
    # stock transformers: CPC codes as labels, sigmoid scores = the model's own before calibration (the recipe saves
    # fp16 weights, which the pipeline computes in; our torch backend computes in fp32)
    assert {d["label"] for d in stock} == set(ours)
    assert max(abs(d["score"] - ours[d["label"]]) for d in stock) < 2e-3


def test_recipe_says_in_one_line_when_base_weights_cannot_be_downloaded(hub_and_data):
    hub, env, tmp = hub_and_data
    result = run(
        ["bash", "scripts/publish_roberta_base.sh"],
        {**env, "OWNER": OWNER, "PYTHON": sys.executable, "CPC": f"{sys.executable} -m spaces.cli"},
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"roberta-base: the base weights cannot be downloaded from {hub.url} (no Hub access?); set BASE to a local checkpoint folder"
    ]
