"""The Hub round trip against the test Hub (``tests.fixtures.hub_server``) with the real clients.

dataset -> ``cpc push dataset`` -> ``load_dataset(repo_id)`` -> ``cpc train linear --dataset repo_id`` ->
``cpc push model`` -> ``CpcPredictor.from_pretrained(repo_id)`` -> ``cpc push space`` -> the Space, started from a
download of its repo, answers ``gradio_client`` with that model. Then the errors: bad token, someone else's repo,
unknown repo, and a server that stops in the middle of an upload (the re-run completes).

Every client runs in a subprocess: ``huggingface_hub`` reads ``HF_ENDPOINT`` at import and tests/conftest.py
sets ``HF_HUB_OFFLINE=1`` for this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cpc_models import CpcPredictor
from tests.fixtures.hub import OTHER_TOKEN, running_hub
from tests.fixtures.processes import LOCALHOST, cpc_command, free_port, start_server, stop_server
from tests.fixtures.serving import ABSTRACT

pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DATASET_ID, MODEL_ID, SPACE_ID = "alice/cpc-tiny-data", "alice/cpc-tiny-tfidf", "alice/cpc-tiny-space"


def run(
    args: list[str], env: dict[str, str], cwd: Path = REPO, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "CPC_"))}
    result = subprocess.run(
        args, env={**base, "PYTHONPATH": str(REPO), **env}, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args[:4]} exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return result


def cpc(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(cpc_command(*args), env, check=check)


def python(env: dict[str, str], code: str, cwd: Path = REPO) -> str:
    return run([sys.executable, "-c", code], env, cwd=cwd).stdout


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("hub")) as hub:
        yield hub


@pytest.fixture(scope="module")
def pushed(hub, tmp_path_factory):
    """A small dataset and a TF-IDF model trained from its Hub copy, both pushed; the client's environment."""
    from tests.conftest import make_rows, write_raw_csv

    tmp = tmp_path_factory.mktemp("roundtrip")
    env = hub.env(tmp / "home")
    raw = tmp / "raw"
    write_raw_csv(raw / "patent_details_1.csv", make_rows(300))
    cpc(env, "data", "build", "--raw", str(raw), "--out", str(tmp / "dataset"))
    first = cpc(env, "push", "dataset", str(tmp / "dataset"), "--repo-id", DATASET_ID)
    assert "commit" in first.stdout and "unchanged" not in first.stdout
    cpc(env, "-q", "train", "linear", "--dataset", DATASET_ID, "--out", str(tmp / "model"), "--min-df", "1")
    assert (tmp / "model" / "predictions").is_dir()  # a training leftover that must not be pushed
    cpc(env, "push", "model", str(tmp / "model"), "--repo-id", MODEL_ID)
    return tmp, env


def test_dataset_loads_by_repo_id_without_warnings(hub, pushed):
    tmp, env = pushed
    out = python(
        env,
        f"""
import json, logging, warnings
records = []
class Keep(logging.Handler):
    def emit(self, record): records.append(record.getMessage())
logging.getLogger().addHandler(Keep()); logging.getLogger().setLevel(logging.WARNING)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from datasets import load_dataset
    ds = load_dataset("{DATASET_ID}")
print(json.dumps({{"rows": {{k: v.num_rows for k, v in ds.items()}}, "names": ds["train"].features["labels"].feature.names,
                  "messages": records + [str(w.message) for w in caught]}}))
""",
    )
    result = json.loads(out.strip().splitlines()[-1])
    stats = json.loads((tmp / "dataset" / "build_stats.json").read_text())
    assert result["rows"] == stats["split_sizes"]
    assert result["names"] == json.loads((tmp / "dataset" / "labels.json").read_text())["labels"]
    assert not [m for m in result["messages"] if "YAML" in m or "malformed" in m or "dataset_info" in m], result[
        "messages"
    ]


def test_model_repo_has_no_leftovers_and_an_unchanged_push_makes_no_commit(hub, pushed):
    tmp, env = pushed
    files = json.loads(
        python(
            env,
            f"import json; from huggingface_hub import HfApi; print(json.dumps(HfApi().list_repo_files('{MODEL_ID}')))",
        )
    )
    assert "config.json" in files and "thresholds.json" in files and "README.md" in files
    assert not [f for f in files if "predictions" in f]
    card = python(
        env,
        f"from huggingface_hub import hf_hub_download; print(open(hf_hub_download('{MODEL_ID}', 'README.md')).read())",
    )
    assert f'CpcPredictor.from_pretrained("{MODEL_ID}")' in card and "model-index" in card
    head = lambda: python(env, f"from huggingface_hub import HfApi; print(HfApi().repo_info('{MODEL_ID}').sha)").strip()  # noqa: E731
    before = head()
    again = cpc(env, "push", "model", str(tmp / "model"), "--repo-id", MODEL_ID)
    assert "unchanged, no new commit" in again.stdout
    assert head() == before


def test_from_pretrained_by_repo_id_revision_and_offline_cache(hub, pushed):
    tmp, env = pushed
    code = (
        """
import json, sys
from cpc_models import CpcPredictor
p = CpcPredictor.from_pretrained(sys.argv[1], revision=sys.argv[2] if len(sys.argv) > 2 else None)
print(json.dumps([[c.code, c.score] for c in p.predict([%r], top_k=5)[0].codes]))
"""
        % ABSTRACT
    )
    local = run([sys.executable, "-c", code, str(tmp / "model")], env).stdout
    remote = run([sys.executable, "-c", code, MODEL_ID], env).stdout
    assert json.loads(remote) == json.loads(local) and json.loads(local)
    offline = run([sys.executable, "-c", code, MODEL_ID], hub.env(tmp / "home", offline=True)).stdout  # the cache only
    assert offline == remote
    # a branch: pushed to "dev", read back at that revision; main is untouched
    cpc(env, "push", "model", str(tmp / "model"), "--repo-id", "alice/cpc-branch", "--revision", "dev")
    assert json.loads(run([sys.executable, "-c", code, "alice/cpc-branch", "dev"], env).stdout) == json.loads(local)
    evaluated = cpc(env, "evaluate", "--model", MODEL_ID, "--data", DATASET_ID, "--json")
    assert json.loads(evaluated.stdout)["n_docs"] > 0
    # cpc serve by repo id at that revision answers like the local folder
    port = free_port()
    server = start_server(
        "serve",
        cpc_command("serve", "--model", "alice/cpc-branch", "--revision", "dev", "--port", str(port), "--workers", "1"),
        f"http://{LOCALHOST}:{port}",
        tmp / "serve.log",
        ready_path="/health",
        env={**env, "PYTHONPATH": str(REPO)},
    )
    try:
        import httpx

        answer = httpx.post(server.url + "/", json={"inputs": ABSTRACT, "parameters": {"top_k": 3}}, timeout=30).json()
    finally:
        stop_server(server)
    expected = CpcPredictor.from_pretrained(tmp / "model").ranked([ABSTRACT], top_k=3)[0]
    flat = answer[0] if answer and isinstance(answer[0], list) else answer
    assert [a["label"] for a in flat] == [c.code for c in expected]


def test_space_from_its_own_repo_answers_the_original_client_call(hub, pushed, tmp_path):
    pytest.importorskip("gradio_client")
    _tmp, env = pushed
    cpc(env, "push", "space", "spaces", "--repo-id", SPACE_ID, "--model", MODEL_ID)
    assert (
        "unchanged, no new commit"
        in cpc(env, "push", "space", "spaces", "--repo-id", SPACE_ID, "--model", MODEL_ID).stdout
    )
    folder = Path(
        python(
            env,
            f"from huggingface_hub import snapshot_download; print(snapshot_download('{SPACE_ID}', repo_type='space', local_dir={str(tmp_path / 'space')!r}))",
        ).strip()
    )
    assert {"app.py", "README.md", "requirements.txt", "cpc_space.json"} <= {p.name for p in folder.iterdir()}
    assert f"- {MODEL_ID}" in (folder / "README.md").read_text()
    space_env = {
        **env,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": "",
    }  # the Space's own copy of the code, not this checkout
    imported = python(space_env, "import cpc_models, spaces.app; print(cpc_models.__file__)", cwd=folder)
    assert Path(imported.strip()).resolve().is_relative_to(folder.resolve())
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "CPC_"))}
    space = start_server(
        "space from the Hub",
        [sys.executable, str(folder / "app.py")],
        f"http://{LOCALHOST}:{port}",
        tmp_path / "space.log",
        env={**base, **space_env, "CPC_PORT": str(port), "CPC_HOST": LOCALHOST},
        timeout=180,
    )
    try:
        from gradio_client import Client

        client = Client(space.url, verbose=False, analytics_enabled=False)
        label = client.predict(abstract=ABSTRACT, api_name="/predict")
        details, _table, _note = client.predict(ABSTRACT, 3, 0, api_name="/predict_details")
    finally:
        stop_server(space)
    ranked = json.loads(
        python(
            env,
            f"""
import json
from cpc_models import CpcPredictor
print(json.dumps([[c.code, c.score] for c in CpcPredictor.from_pretrained('{MODEL_ID}').ranked([{ABSTRACT!r}], 5)[0]]))""",
        )
    )
    assert [c["label"] for c in label["confidences"]] == [code for code, _ in ranked]
    assert label["label"] == ranked[0][0]
    assert [round(c["confidence"], 4) for c in label["confidences"]] == [score for _, score in ranked]
    assert details["confidences"] and len(details["confidences"]) <= 3


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith(("WARNING", "INFO"))]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_token_foreign_repo_and_unknown_repo_are_one_line_errors(hub, pushed):
    tmp, _env = pushed
    bad = cpc(
        hub.env(tmp / "home", token="hf_not_a_real_token"),
        "push",
        "model",
        str(tmp / "model"),
        "--repo-id",
        MODEL_ID,
        check=False,
    )
    message = _one_line(bad)
    assert "401" in message and "hf_not_a_real_token" not in bad.stderr + bad.stdout
    foreign = cpc(
        hub.env(tmp / "home", token=OTHER_TOKEN),
        "push",
        "model",
        str(tmp / "model"),
        "--repo-id",
        MODEL_ID,
        check=False,
    )
    assert "403" in _one_line(foreign) and OTHER_TOKEN not in foreign.stderr + foreign.stdout
    unknown = cpc(hub.env(tmp / "home"), "predict", "--model", "alice/no-such-model", "an abstract", check=False)
    assert "no such repo" in _one_line(unknown)
    cpc(hub.env(tmp / "home"), "push", "model", str(tmp / "model"), "--repo-id", "alice/private-model", "--private")
    hidden = cpc(
        hub.env(tmp / "bob-home", token=OTHER_TOKEN),
        "predict",
        "--model",
        "alice/private-model",
        "an abstract",
        check=False,
    )
    assert "no such repo" in _one_line(hidden)  # a private repo is invisible to others, as on the Hub


def test_server_stopped_mid_upload_then_rerun_completes(tmp_path, pushed):
    tmp, _env = pushed
    with running_hub(tmp_path) as hub:
        env = hub.env(tmp_path / "home")
        hub.stop()
        hub.start(tmp_path / "dying.log", die_on_commit=1)  # exits when the commit arrives, after the LFS uploads
        cut = cpc(env, "push", "model", str(tmp / "model"), "--repo-id", "alice/resume", check=False)
        assert "network failure" in _one_line(cut) and "run the same command again" in cut.stderr
        hub.stop()
        hub.start(tmp_path / "again.log")
        done = cpc(env, "push", "model", str(tmp / "model"), "--repo-id", "alice/resume")
        assert "commit" in done.stdout
        files = json.loads(
            python(
                env,
                "import json; from huggingface_hub import HfApi; print(json.dumps(HfApi().list_repo_files('alice/resume')))",
            )
        )
        local = {
            p.relative_to(tmp / "model").as_posix()
            for p in (tmp / "model").rglob("*")
            if p.is_file() and "predictions" not in p.parts
        }
        assert set(files) == local
