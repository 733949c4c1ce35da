import json
import subprocess
import sys

import nbformat
import pytest

from course_lib import run


def make_notebook(path, body="import course_lib.report as r\nr.record('answer', 42)"):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "auto"\nSEED = 0\nINTERACTIVE = True\nRETRAIN = False')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_unknown_parameter_is_refused_naming_it_and_the_known_ones(tmp_path):
    notebook = make_notebook(tmp_path / "07_tiny.ipynb")
    with pytest.raises(run.RunError, match=r"unknown parameter 'EPOCHS' for 07_tiny: it takes INTERACTIVE, PROFILE"):
        run.check_parameters(notebook, {"EPOCHS": 3})
    with pytest.raises(run.RunError, match="--profile"):
        run.check_parameters(notebook, {"PROFILE": "class"})


def test_cli_exits_non_zero_with_one_line_for_an_unknown_parameter(tmp_path):
    notebook = make_notebook(tmp_path / "07_tiny.ipynb")
    done = subprocess.run(
        [sys.executable, "-m", "course_lib", "run", "-p", "NOT_A_PARAM", "1", str(notebook)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and "NOT_A_PARAM" in lines[-1], done.stderr


def test_unknown_notebook_names_the_ones_that_exist(tmp_path):
    make_notebook(tmp_path / "01_one.ipynb")
    assert run.resolve_notebook("01", tmp_path).name == "01_one.ipynb"
    assert run.resolve_notebook("01_one", tmp_path).name == "01_one.ipynb"
    with pytest.raises(run.RunError, match="the notebooks are 01_one"):
        run.resolve_notebook("02_two", tmp_path)


def test_parse_value():
    assert run.parse_value("3") == 3 and run.parse_value("0.5") == 0.5
    assert run.parse_value("False") is False and run.parse_value("relu") == "relu"


def test_run_writes_executed_notebook_and_results_with_metadata(tmp_path):
    notebook = make_notebook(tmp_path / "07_tiny.ipynb")
    outcome = run.run_notebook(notebook, "smoke", {"SEED": 5}, out_dir=tmp_path / "runs", progress=False)
    assert outcome.ok, outcome.error
    results = json.loads((tmp_path / "runs" / "smoke" / "07_tiny.json").read_text())
    assert results["answer"] == 42 and results["seed"] == 5 and results["profile"] == "smoke"
    for key in ("notebook", "commit", "seconds", "started", "python", "tensorflow"):
        assert key in results
    assert (tmp_path / "runs" / "smoke" / "07_tiny.ipynb").exists()
    assert "answer" in run.summary([outcome])


def test_a_failing_notebook_is_reported_not_hidden(tmp_path):
    notebook = make_notebook(tmp_path / "08_broken.ipynb", body="raise ValueError('boom')")
    outcome = run.run_notebook(notebook, "smoke", out_dir=tmp_path / "runs", progress=False)
    assert not outcome.ok and "boom" in outcome.error
    assert "FAILED" in run.summary([outcome])


def test_the_runner_turns_widgets_off_unless_asked(tmp_path):
    notebook = make_notebook(tmp_path / "09_widgets.ipynb", body="import course_lib.report as r\nr.record('interactive', INTERACTIVE)")
    off = run.run_notebook(notebook, "smoke", out_dir=tmp_path / "a", progress=False)
    on = run.run_notebook(notebook, "smoke", {"INTERACTIVE": True}, out_dir=tmp_path / "b", progress=False)
    assert off.results["interactive"] is False and on.results["interactive"] is True


@pytest.mark.parametrize("text, value", [("false", False), ("FALSE", False), ("0", False), ("True", True),
                                         ("1", True), ("yes", True)])
def test_a_bool_parameter_reads_true_and_false_in_any_case(tmp_path, text, value):
    notebook = make_notebook(tmp_path / "07_tiny.ipynb")
    assert run.typed_parameters(notebook, {"RETRAIN": text}) == {"RETRAIN": value}


@pytest.mark.parametrize("name, text", [("SEED", "abc"), ("SEED", "1.5"), ("SEED", "true"), ("RETRAIN", "maybe"),
                                        ("RETRAIN", "2")])
def test_a_value_of_the_wrong_type_is_refused_with_one_line(tmp_path, name, text):
    notebook = make_notebook(tmp_path / "07_tiny.ipynb")
    with pytest.raises(run.RunError, match=f"-p {name} '{text}'"):
        run.typed_parameters(notebook, {name: text})


def test_numbers_keep_their_type():
    assert run.coerce_parameter("SEED", "01", "0") == 1
    assert run.coerce_parameter("LR", "0.5", "0.1") == 0.5
    assert run.coerce_parameter("LR", "2", "0.1") == 2.0
    with pytest.raises(run.RunError, match="finite"):
        run.coerce_parameter("LR", "nan", "0.1")
    assert run.coerce_parameter("NAME", "'Buildy'", '"x"') == "Buildy"


def test_cli_refuses_a_mistyped_value_before_running_with_exit_2(tmp_path):
    notebook = make_notebook(tmp_path / "07_tiny.ipynb")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "course_lib", "run", "--out", str(out), "-p", "SEED", "abc",
                           str(notebook)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "SEED" in lines[0] and "whole number" in lines[0], done.stderr
    assert not out.exists()  # refused before anything ran
