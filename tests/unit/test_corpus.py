"""``cpc predict --input``: one file or a corpus through the one batch engine (local), its schema, resume rule, bad shards,
symlinks, CSV neutralisation, options refused per mode; Ray's absence (Ray itself: tests/integration/test_ray_corpus.py)."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cpc_dataset.errors import CpcError
from cpc_models.predict.classify import classify_table
from cpc_models.predict.corpus import CorpusJob, predict_corpus
from cpc_models.predict.predictor import CpcPredictor
from cpc_models.predict.schema import NO_WORDS
from cpc_models.predict.shards import find_inputs, plan_shards
from spaces.cli import main
from tests.fixtures.corpus import (
    DEFAULT_MODEL,
    assert_equals_predictor,
    assert_same_rows,
    read_input,
    read_output,
    write_bad_shards,
    write_corpus,
)

pytest.importorskip("sklearn")
pytest.importorskip("scipy")


@pytest.fixture(scope="module")
def predictor():
    return CpcPredictor.from_pretrained(DEFAULT_MODEL)


def test_inputs_from_a_file_a_folder_or_a_glob(tmp_path):
    (tmp_path / "in" / "2025").mkdir(parents=True)
    for name in ("a.parquet", "2025/b.csv", "notes.txt", ".hidden.csv", "_SUCCESS.csv"):
        (tmp_path / "in" / name).write_text("abstract\nx\n")
    root, files = find_inputs(tmp_path / "in")
    assert root == tmp_path / "in" and [f.name for f in files] == ["b.csv", "a.parquet"]
    assert [f.name for f in find_inputs(str(tmp_path / "in" / "2*" / "*.csv"))[1]] == ["b.csv"]
    assert find_inputs(tmp_path / "in" / "a.parquet")[1] == [tmp_path / "in" / "a.parquet"]
    (tmp_path / "in" / "a[1].csv").write_text("abstract\nx\n")  # a name with glob characters is that file
    (tmp_path / "in" / "a1.csv").write_text("abstract\nx\n")
    assert find_inputs(str(tmp_path / "in" / "a[1].csv"))[1] == [tmp_path / "in" / "a[1].csv"]
    with pytest.raises(CpcError, match="no .parquet or .csv files"):
        find_inputs(str(tmp_path / "in" / "*.json"))
    with pytest.raises(CpcError, match="does not exist"):
        find_inputs(tmp_path / "nope")


def test_outputs_mirror_inputs_and_earlier_outputs_are_not_inputs(tmp_path):
    write_corpus(tmp_path / "corpus" / "2024", [5], fmt="csv", bad_rows=False)
    write_corpus(tmp_path / "corpus", [5], bad_rows=False)
    (tmp_path / "corpus" / "out").mkdir()
    pq.write_table(pa.table({"abstract": ["x"]}), tmp_path / "corpus" / "out" / "part-000.parquet")
    shards = plan_shards(tmp_path / "corpus", tmp_path / "corpus" / "out")
    assert [s.output.relative_to(tmp_path / "corpus" / "out").as_posix() for s in shards] == [
        "2024/part-000.csv",
        "part-000.parquet",
    ]
    assert [s.rows for s in shards] == [5, 5]
    with pytest.raises(CpcError, match="other than the input folder"):
        plan_shards(tmp_path / "corpus", tmp_path / "corpus")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_local_engine_equals_the_predictor_row_for_row(tmp_path, predictor, fmt):
    inputs = write_corpus(tmp_path / "in", [60, 0, 45], fmt=fmt)
    report = predict_corpus(
        CorpusJob(
            str(tmp_path / "in"), str(tmp_path / "out"), str(DEFAULT_MODEL), batch_size=16, top_k=5, progress=False
        )
    )
    assert report.rows == 60 + 4 + 45 and len(report.written) == 3 and report.skipped == 0
    for path in inputs:
        assert_equals_predictor(predictor, path, tmp_path / "out" / path.name, top_k=5)
    rows = read_output(tmp_path / "out" / inputs[0].name)
    assert [r["reason"] for r in rows if r["publication_number"].startswith("BAD")] == ["empty text"] * 3 + [NO_WORDS]
    assert all(r["codes"] and not r["reason"] for r in rows if not r["publication_number"].startswith("BAD"))
    assert rows[0]["cpc_codes"]  # the input's other columns are kept beside the predictions


def test_rerun_writes_only_missing_shards_and_refuses_other_settings(tmp_path):
    write_corpus(tmp_path / "in", [20, 20, 20], bad_rows=False)
    job = CorpusJob(
        str(tmp_path / "in"),
        str(tmp_path / "out"),
        str(DEFAULT_MODEL),
        id_columns=["publication_number"],
        progress=False,
    )
    predict_corpus(job)
    kept = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.parquet")}
    (tmp_path / "out" / "part-001.parquet").unlink()
    (tmp_path / "out" / ".part-002.parquet.999.tmp").write_text("left by a killed run")
    with pytest.raises(CpcError, match="earlier run's output: pass --resume .* or --overwrite"):
        predict_corpus(job)
    job.resume = True
    report = predict_corpus(job)
    assert report.written == [str(tmp_path / "out" / "part-001.parquet")] and report.skipped == 2 and report.rows == 20
    assert {n: (tmp_path / "out" / n).stat().st_mtime_ns for n in ("part-000.parquet", "part-002.parquet")} == {
        n: kept[n] for n in ("part-000.parquet", "part-002.parquet")
    }
    assert not list((tmp_path / "out").glob(".*.tmp"))
    assert pq.read_table(tmp_path / "out" / "part-001.parquet").column_names[0] == "publication_number"
    with pytest.raises(CpcError, match="other settings .*top_k"):
        predict_corpus(
            CorpusJob(
                str(tmp_path / "in"),
                str(tmp_path / "out"),
                str(DEFAULT_MODEL),
                id_columns=["publication_number"],
                top_k=3,
                resume=True,
            )
        )
    job.resume, job.overwrite = False, True  # start again: every shard written anew
    report = predict_corpus(job)
    assert len(report.written) == 3 and report.skipped == 0


def test_an_unreadable_shard_is_reported_and_the_others_are_written(tmp_path):
    write_corpus(tmp_path / "in", [10, 10], bad_rows=False)
    (tmp_path / "in" / "part-001.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(CpcError, match="1 of 2 shards not written .*part-001.parquet.*re-run"):
        predict_corpus(CorpusJob(str(tmp_path / "in"), str(tmp_path / "out"), str(DEFAULT_MODEL), progress=False))
    assert len(read_output(tmp_path / "out" / "part-000.parquet")) == 10
    assert not (tmp_path / "out" / "part-001.parquet").exists()


def test_a_row_that_breaks_the_model_gets_a_reason_not_an_error(predictor):
    class Fragile:
        def predict(self, texts, top_k=None, threshold=None):
            if any("poison" in t for t in texts):
                if len(texts) > 1:
                    raise RuntimeError("batch failed")
                raise ValueError("cannot read this one")
            return predictor.predict(texts, top_k=top_k, threshold=threshold)

    table = pa.table(
        {"publication_number": ["A", "B", "C"], "abstract": ["A neural network.", "poison", "A robot arm."]}
    )
    out = classify_table(Fragile(), table).to_pylist()
    assert [r["publication_number"] for r in out] == ["A", "B", "C"]
    assert out[1]["reason"] == "could not classify: ValueError: cannot read this one" and out[1]["codes"] == []
    assert out[0]["codes"] == [c.code for c in predictor.predict(["A neural network."])[0].codes]


def test_csv_quoted_newlines_and_formulas_in_kept_cells(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.csv").write_text(
        'publication_number,abstract\n"=HYPERLINK(""http://x"")",A neural network.\nB,"A robot\narm."\n'
    )
    predict_corpus(CorpusJob(str(tmp_path / "in"), str(tmp_path / "out"), str(DEFAULT_MODEL), progress=False))
    assert (tmp_path / "out" / "x.csv").read_text().splitlines()[1].startswith("\"'=HYPERLINK(")
    rows = read_output(tmp_path / "out" / "x.csv")
    assert [r["publication_number"] for r in rows] == ['\'=HYPERLINK("http://x")', "B"] and all(
        r["codes"] for r in rows
    )


def test_cli_classifies_a_parquet_folder(tmp_path, capsys):
    write_corpus(tmp_path / "in", [15, 15])
    args = [
        "-q",
        "predict",
        "--model",
        str(DEFAULT_MODEL),
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(tmp_path / "out"),
    ]
    assert main([*args, "--id-columns", "publication_number"]) == 0
    assert "34 rows in 2 shards written" in capsys.readouterr().err
    assert main([*args, "--id-columns", "publication_number", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "0 rows in 0 shards written" in err and "2 shards already there" in err
    assert main([*args, "--workers", "2"]) == 2
    assert "--workers applies to --engine ray, not to the local engine" in capsys.readouterr().err


def test_classifying_a_corpus_does_not_import_pandas(tmp_path):
    """pyarrow imports pandas on its first ``pa.array`` of Python objects (about 40 MB in every classifying
    process, each Ray actor included): the prediction columns and CSV cells are built without it."""
    (shard,) = write_corpus(tmp_path, [12], fmt="csv")
    runs = [
        ["-q", "predict", "--model", str(DEFAULT_MODEL), "--input", str(shard), "--output", str(tmp_path / name)]
        for name in ("out.parquet", "out.csv")
    ]
    code = f"import sys; from spaces.cli import main; print([main(a) for a in {runs!r}], 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[0, 0] False"
    assert pq.read_table(tmp_path / "out.parquet").num_rows == len(read_output(tmp_path / "out.csv")) > 12


def test_engine_ray_without_ray_says_what_to_install(tmp_path, monkeypatch, capsys):
    write_corpus(tmp_path / "in", [5], bad_rows=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    args = [
        "predict",
        "--model",
        str(DEFAULT_MODEL),
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(tmp_path / "out"),
        "--engine",
        "ray",
    ]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'patent-cpc[scale]'" in err
    assert not (tmp_path / "out").exists()


def test_one_file_to_one_file_in_either_format(tmp_path, predictor, capsys):
    [parquet] = write_corpus(tmp_path / "in", [25])
    [csv] = write_corpus(tmp_path / "csv", [20], fmt="csv", bad_rows=False)
    base = ["-q", "predict", "--model", str(DEFAULT_MODEL)]
    assert main([*base, "--input", str(parquet), "--output", str(tmp_path / "p.csv")]) == 0
    assert main([*base, "--input", str(csv), "--output", str(tmp_path / "c.parquet")]) == 0
    assert assert_equals_predictor(predictor, parquet, tmp_path / "p.csv") == 29
    assert assert_equals_predictor(predictor, csv, tmp_path / "c.parquet") == 20
    assert (tmp_path / ".c.parquet.cpc_job.json").exists()
    assert (
        main([*base, "--input", str(tmp_path / "in"), "--output", str(tmp_path / "p.csv"), "--overwrite"]) == 0
    )  # one input
    write_corpus(tmp_path / "two", [5, 5], bad_rows=False)
    capsys.readouterr()
    assert main([*base, "--input", str(tmp_path / "two"), "--output", str(tmp_path / "t.parquet")]) == 1
    assert "2 inputs need an output folder" in capsys.readouterr().err


def test_one_csv_to_a_csv_a_parquet_and_a_folder_gives_the_same_rows(tmp_path, predictor):
    """Issue 18's must-show (the Ray engine's part is in tests/integration/test_ray_corpus.py)."""
    [source] = write_corpus(tmp_path / "in", [996], fmt="csv")  # 1,000 rows with the four that get a reason
    base = ["-q", "predict", "--model", str(DEFAULT_MODEL), "--input", str(source), "--batch-size", "100"]
    for output in ("out.csv", "out.parquet", "folder"):
        assert main([*base, "--output", str(tmp_path / output)]) == 0
    outputs = [tmp_path / "out.csv", tmp_path / "out.parquet", tmp_path / "folder" / source.name]
    assert assert_same_rows(*outputs) == 1000
    assert assert_equals_predictor(predictor, source, tmp_path / "out.parquet") == 1000
    assert list(read_output(outputs[0])[0]) == [
        *("publication_number", "title", "abstract", "cpc_codes"),
        *("codes", "scores", "subclasses", "sections", "truncated", "out_of_scope", "reason"),
    ]


def test_a_shard_that_cannot_be_read_or_typed_is_reported_and_the_others_written(tmp_path):
    good = write_corpus(tmp_path / "in", [10, 10], bad_rows=False)
    bad = write_bad_shards(tmp_path / "in")
    job = CorpusJob(str(tmp_path / "in"), str(tmp_path / "out"), str(DEFAULT_MODEL), progress=False)
    with pytest.raises(CpcError, match="2 of 4 shards not written") as error:
        predict_corpus(job)
    assert "\n" not in str(error.value) and all(n in str(error.value) and w in str(error.value) for n, w in bad.items())
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("_")) == [
        p.name for p in good
    ]  # no output, not even a temporary one, for the bad shards
    with pytest.raises(CpcError, match=bad["typed.parquet"]):
        predict_corpus(CorpusJob(str(tmp_path / "in" / "typed.parquet"), str(tmp_path / "t.csv"), str(DEFAULT_MODEL)))
    with pytest.raises(CpcError, match=bad["corrupt.parquet"]):
        predict_corpus(CorpusJob(str(tmp_path / "in" / "corrupt.parquet"), str(tmp_path / "c.csv"), str(DEFAULT_MODEL)))


def test_a_symlinked_shard_outside_the_input_folder_is_followed(tmp_path, predictor):
    [outside] = write_corpus(tmp_path / "elsewhere", [12], bad_rows=False)
    write_corpus(tmp_path / "in", [5], bad_rows=False)
    (tmp_path / "in" / "2025").mkdir()
    (tmp_path / "in" / "2025" / "linked.parquet").symlink_to(outside)
    report = predict_corpus(CorpusJob(str(tmp_path / "in"), str(tmp_path / "out"), str(DEFAULT_MODEL), progress=False))
    assert report.rows == 17 and not report.failed
    assert assert_equals_predictor(predictor, outside, tmp_path / "out" / "2025" / "linked.parquet") == 12


def test_every_csv_cell_is_neutralised_whatever_the_parquet_type(tmp_path):
    formulas = ['=HYPERLINK("http://x.invalid","y")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3"]
    n = len(formulas)
    table = pa.table(
        {
            "abstract": ["A neural network classifies images."] * n,
            "as_list": pa.array([[f] for f in formulas], pa.list_(pa.string())),
            "as_dictionary": pa.array(formulas).dictionary_encode(),
            "as_struct": pa.array([{"note": f} for f in formulas]),
            "as_large": pa.array(formulas, pa.large_string()),
            "as_view": pa.array(formulas, pa.string_view()),
            "as_map": pa.array([[(f, f)] for f in formulas], pa.map_(pa.string(), pa.string())),
            formulas[0]: pa.array(range(n)),  # a column name too
        }
    )
    (tmp_path / "in").mkdir()
    pq.write_table(table, tmp_path / "in" / "x.parquet")
    predict_corpus(CorpusJob(str(tmp_path / "in" / "x.parquet"), str(tmp_path / "x.csv"), str(DEFAULT_MODEL)))
    with open(tmp_path / "x.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == n + 1 and rows[0][-1] == "reason"
    assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    header = rows[0]
    for row, formula in zip(rows[1:], formulas):
        for name in ("as_list", "as_dictionary", "as_large", "as_view"):
            assert row[header.index(name)] == "'" + formula
        assert json.loads(row[header.index("as_struct")]) == {"note": formula}  # JSON: starts with "{"
        assert row[header.index("as_map")].startswith("'" + formula)
    assert "'" + formulas[0] in header


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--explain"], "--explain applies to one TEXT, not to a batch run (--input)"),
        (["--json"], "--json applies to one TEXT, not to a batch run (--input)"),
        (["--neighbours", "3"], "--neighbours applies to one TEXT, not to a batch run (--input)"),
        (["--address", "auto"], "--address applies to --engine ray, not to the local engine"),
        (["--workers", "2", "--engine", "local"], "--workers applies to --engine ray, not to the local engine"),
    ],
)
def test_a_batch_option_for_another_mode_is_refused_in_one_line(tmp_path, capsys, extra, message):
    [source] = write_corpus(tmp_path / "in", [3], fmt="csv", bad_rows=False)
    args = ["predict", "--model", str(DEFAULT_MODEL), "--input", str(source), "--output", str(tmp_path / "o.csv")]
    assert main([*args, *extra]) == 2
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("Error")] == [f"Error: {message}"]
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("extra", [["--resume"], ["--overwrite"], ["--chunk-size", "5"], ["--engine", "ray"]])
def test_a_text_option_for_a_batch_run_is_refused(capsys, extra):
    assert main(["predict", "--model", str(DEFAULT_MODEL), "A neural network.", *extra]) == 2
    [error] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Error")]
    assert extra[0] in error and error.endswith("applies to a batch run (--input), not to one TEXT")


def test_revision_reaches_the_local_and_the_ray_engine(tmp_path, monkeypatch, predictor):
    from cpc_models.predict.distributed import ShardWorker

    asked = []

    def from_pretrained(model, backend="auto", revision=None):
        asked.append(revision)
        return predictor

    monkeypatch.setattr(CpcPredictor, "from_pretrained", from_pretrained)
    [source] = write_corpus(tmp_path / "in", [3], bad_rows=False)
    args = ["-q", "predict", "--model", str(DEFAULT_MODEL), "--input", str(source), "--revision", "v1.0"]
    assert main([*args, "--output", str(tmp_path / "out.csv")]) == 0
    assert json.loads((tmp_path / ".out.csv.cpc_job.json").read_text())["revision"] == "v1.0"
    ShardWorker(str(DEFAULT_MODEL), CorpusJob(str(source), str(tmp_path / "o"), str(DEFAULT_MODEL), revision="v2"))
    assert asked == ["v1.0", "v2"]


@pytest.mark.parametrize(
    "fault, reason",
    [
        ("ActorDiedError", "its Ray worker died"),
        ("RaySystemError", r"Ray failed \(RaySystemError: System error: the object was lost\)"),
    ],
)
def test_a_ray_worker_that_dies_fails_its_shard_and_takes_no_more(tmp_path, monkeypatch, fault, reason):
    """A worker killed mid-shard (out of memory, a lost node) or any other Ray fault: its shard is reported in the
    one-line error, the other shards are written by the workers left, and the failed one is given none (Ray's calls
    stand in for a cluster)."""
    ray = pytest.importorskip("ray")
    error = getattr(ray.exceptions, fault)
    make_error = (lambda: error()) if fault == "ActorDiedError" else (lambda: error("the object was lost"))
    from cpc_models.predict import distributed

    class Worker:  # a worker that dies on part-000 and, like a dead actor, fails every later call
        def __init__(self, model, job):
            self.dead, self.ran = False, []

        def ready(self):
            return True

        def run(self, shard):
            if self.dead or shard.source.name == "part-000.parquet":
                self.dead = True
                raise make_error()
            self.ran.append(shard.source.name)
            return shard.rows, 0, ""

    class Call:
        def __init__(self, method):
            self.remote = lambda *args: lambda: method(*args)

    class Actor:
        def __init__(self, *args):
            self.worker = Worker(*args)
            self.ready, self.run = Call(self.worker.ready), Call(self.worker.run)

    actors = []
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    monkeypatch.setattr(
        ray, "remote", lambda **_: lambda cls: SimpleNamespace(remote=lambda *a: actors.append(Actor(*a)) or actors[-1])
    )
    monkeypatch.setattr(ray, "get", lambda ref: [r() for r in ref] if isinstance(ref, list) else ref())
    monkeypatch.setattr(ray, "wait", lambda refs, num_returns: (refs[:1], refs[1:]))
    monkeypatch.setattr(ray, "kill", lambda actor: None)
    monkeypatch.setattr(distributed, "ShardWorker", Worker)
    write_corpus(tmp_path / "in", [5, 5, 5], bad_rows=False)
    job = CorpusJob(str(tmp_path / "in"), str(tmp_path / "out"), str(DEFAULT_MODEL), engine="ray", progress=False)
    with pytest.raises(CpcError, match=r"^Bad input: 1 of 3 shards not written \(\S+part-000.parquet: " + reason):
        predict_corpus(job)
    [dead] = [a.worker for a in actors if a.worker.dead]
    [alive] = [a.worker for a in actors if not a.worker.dead]
    assert dead.ran == [] and alive.ran == ["part-001.parquet", "part-002.parquet"]


def test_an_output_folder_above_the_input_still_classifies_every_input(tmp_path):
    """Inputs under the output folder are earlier outputs only when the output folder lies inside the input folder;
    an output that would land on another input is refused before anything is written."""
    [source] = write_corpus(tmp_path / "d" / "sub", [6], bad_rows=False)
    report = predict_corpus(CorpusJob(str(tmp_path / "d" / "sub"), str(tmp_path / "d"), str(DEFAULT_MODEL)))
    assert report.rows == 6 and len(read_output(tmp_path / "d" / source.name)) == 6
    write_corpus(tmp_path / "e" / "sub" / "sub", [3], bad_rows=False)
    write_corpus(tmp_path / "e" / "sub", [3], bad_rows=False)  # where e/sub/sub's output would go
    with pytest.raises(CpcError, match="would put an output on the input"):
        predict_corpus(CorpusJob(str(tmp_path / "e" / "sub"), str(tmp_path / "e"), str(DEFAULT_MODEL), overwrite=True))
    assert len(read_input(tmp_path / "e" / "sub" / source.name)) == 3


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_overwrite_with_a_model_that_cannot_load_keeps_the_earlier_output(tmp_path, engine):
    if engine == "ray":
        pytest.importorskip("ray")
    [source] = write_corpus(tmp_path / "in", [4], bad_rows=False)
    predict_corpus(CorpusJob(str(source), str(tmp_path / "out.csv"), str(DEFAULT_MODEL), progress=False))
    before = (tmp_path / "out.csv").read_bytes()
    missing = CorpusJob(
        str(source), str(tmp_path / "out.csv"), str(tmp_path / "no-model"), engine=engine, overwrite=True
    )
    with pytest.raises(CpcError):
        predict_corpus(missing)
    assert (tmp_path / "out.csv").read_bytes() == before
    assert json.loads((tmp_path / ".out.csv.cpc_job.json").read_text())["model"] == str(DEFAULT_MODEL.resolve())


def test_a_csv_line_with_too_many_fields_is_skipped_warned_and_counted_in_the_summary(tmp_path, caplog, capsys):
    (tmp_path / "x.csv").write_text(
        "publication_number,abstract\nA,A neural network.\nB,A robot arm, with a gripper.\nC,x,y,z\nD,A lens.\n"
    )
    report = predict_corpus(CorpusJob(str(tmp_path / "x.csv"), str(tmp_path / "o.csv"), str(DEFAULT_MODEL)))
    assert report.rows == 2 and [r["publication_number"] for r in read_output(tmp_path / "o.csv")] == ["A", "D"]
    assert report.bad_lines == 2 and "2 CSV lines skipped" in report.summary("o.csv")
    warnings = sorted(r.getMessage() for r in caplog.records if "skipped" in r.getMessage())
    assert len(warnings) == 2  # once each: counting the rows at planning time does not warn again
    assert "None" not in warnings[0] and "B,A robot arm, with a gripper." in warnings[0] and "3 fields" in warnings[0]
    assert main(["predict", "--input", str(tmp_path / "x.csv"), "--output", str(tmp_path / "p.csv")]) == 0
    assert "2 CSV lines skipped: wrong number of fields" in capsys.readouterr().err
    assert "CSV lines skipped" not in report.__class__(rows=2).summary("o.csv")  # a clean run says nothing of them


def test_a_ray_worker_unpacks_the_model_once_and_never_into_a_folder_it_did_not_make(tmp_path, monkeypatch):
    """The node's model cache ``<tmp>/cpc-model-<digest>`` is reused only when this user made it: a symlink planted
    under that name (or a folder others can write) is not where the model is read from."""
    import tempfile

    from cpc_models.predict.distributed import pack_model, unpack_model

    folder = tmp_path / "src" / "model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    data = pack_model(folder)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first = Path(unpack_model(data))
    assert first.parent.parent == tmp_path and (first / "config.json").is_file()
    assert Path(unpack_model(data)) == first  # the second actor reuses it
    planted = tmp_path / "planted"
    (planted / "model").mkdir(parents=True)
    first.parent.rename(tmp_path / "moved")
    first.parent.symlink_to(planted)
    private = Path(unpack_model(data))
    assert planted not in private.parents and private.parent.parent == tmp_path and (private / "config.json").is_file()
    first.parent.unlink()
    first.parent.mkdir(mode=0o777)
    first.parent.chmod(0o777)  # writable by others: not trusted either
    assert Path(unpack_model(data)).parent != first.parent


def test_id_columns_naming_a_prediction_column_are_refused_before_any_output(tmp_path, capsys):
    """``--id-columns codes`` would write two ``codes`` columns: refused in one line, the earlier output untouched
    even with --overwrite (it used to fail each shard after the output was cleared)."""
    write_corpus(tmp_path / "in", [3, 3], bad_rows=False)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("earlier")
    args = ["predict", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--overwrite"]
    assert main([*args, "--id-columns", "publication_number,codes"]) == 1
    err = capsys.readouterr().err
    assert "--id-columns codes: names of prediction columns" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keep.txt"]
