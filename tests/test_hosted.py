"""The self-installing first cell of every notebook and the README badges (course_lib/hosted.py), checked offline:
what the cell would run on a hosted service, and that it does nothing where the course is installed."""
import json
import os
import subprocess
import sys

import pytest

from course_lib import hosted, run

NOTEBOOKS = run.available_notebooks()
SETTINGS = hosted.hosted_settings()
SOURCE = hosted.cell_source(SETTINGS["repository"], SETTINGS["ref"])


def _cell_namespace():
    """Run the cell's code as a notebook would, in a place where the course is installed (so it does nothing)."""
    namespace: dict = {}
    exec(compile(SOURCE, "hosted-setup", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_starts_with_the_generated_setup_cell(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert hosted.SETUP_TAG in code[0]["metadata"].get("tags", []), f"{path.name}: first code cell is not the setup"
    assert "".join(code[0]["source"]) == SOURCE, f"{path.name}: setup cell is stale; run python -m course_lib hosted"
    assert "parameters" in code[1]["metadata"].get("tags", []), "the parameters cell follows the setup cell"


def test_readme_badges_pin_the_same_tag_for_every_notebook():
    text = hosted.README.read_text(encoding="utf-8")
    block = text[text.index(hosted.BADGES_BEGIN) + len(hosted.BADGES_BEGIN):text.index(hosted.BADGES_END)]
    assert block.strip().splitlines() == hosted.badge_lines(NOTEBOOKS, SETTINGS)
    for path in NOTEBOOKS:
        assert f"/blob/{SETTINGS['ref']}/notebooks/{path.name}" in block


def test_the_regenerate_command_finds_nothing_to_change():
    """The README's `python -m course_lib hosted`, run for real: cells and badges already match the settings."""
    result = subprocess.run([sys.executable, "-m", "course_lib", "hosted"], capture_output=True, text=True,
                            cwd=hosted.REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "nothing to change" in result.stdout, result.stdout


def test_installed_or_not_hosted_means_no_command():
    setup = _cell_namespace()["course_setup_commands"]
    assert setup(environ={}, modules={}, version=(3, 12), installed=False) == (None, [])
    assert setup(environ={"COLAB_RELEASE_TAG": "x"}, modules={}, version=(3, 12), installed=True) == (None, [])


@pytest.mark.parametrize("version,lock", [((3, 12), "requirements-py312.lock"), ((3, 11), "requirements.lock")])
def test_colab_clones_the_pinned_tag_and_installs_the_lock_of_its_python(version, lock):
    setup = _cell_namespace()["course_setup_commands"]
    clone, commands = setup(environ={"COLAB_RELEASE_TAG": "release"}, modules={}, version=version, installed=False)
    assert clone == "/content/model-secrets"
    assert commands[0] == ["git", "clone", "--quiet", "--depth", "1", "--branch", SETTINGS["ref"],
                           SETTINGS["repository"], clone]
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--ignore-requires-python"]
    assert commands[1] == pip + ["-r", f"{clone}/{lock}"]
    assert commands[2] == pip + ["-e", clone]
    assert (hosted.REPO_ROOT / lock).is_file(), f"the cell names {lock}, which the repository must hold"
    assert lock in (hosted.REPO_ROOT / "Makefile").read_text(), f"make installs another lock than {lock} for {version}"


def test_kaggle_and_a_loaded_colab_module_count_as_hosted():
    setup = _cell_namespace()["course_setup_commands"]
    clone, commands = setup(environ={"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, modules={}, version=(3, 11),
                            installed=False)
    assert clone == os.path.join(os.path.expanduser("~"), "model-secrets") and len(commands) == 3
    _, commands = setup(environ={}, modules={"google.colab": object()}, version=(3, 12), installed=False)
    assert len(commands) == 3


def test_a_python_without_a_stack_is_refused_in_one_sentence():
    setup = _cell_namespace()["course_setup_commands"]
    with pytest.raises(RuntimeError, match="3.13; the course's stacks are 3.11 and 3.12"):
        setup(environ={"COLAB_RELEASE_TAG": "x"}, modules={}, version=(3, 13), installed=False)


def test_the_cell_run_where_the_course_is_missing_prints_what_it_would_run(tmp_path):
    """A bare interpreter (no site-packages, so no course_lib) on a pretend Colab, in dry-run mode."""
    env = {"PATH": os.environ.get("PATH", ""), "COLAB_RELEASE_TAG": "release", "COURSE_SETUP_DRY_RUN": "1"}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", SOURCE], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1:3] for line in lines[:3]] == [["git", "clone"], [sys.executable, "-m"],
                                                         [sys.executable, "-m"]]
    assert lines[0].endswith(f"{SETTINGS['ref']} {SETTINGS['repository']} /content/model-secrets")


def test_the_cell_run_where_the_course_is_installed_prints_nothing():
    env = dict(os.environ, COLAB_RELEASE_TAG="release", COURSE_SETUP_DRY_RUN="1")
    result = subprocess.run([sys.executable, "-c", SOURCE], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


@pytest.mark.parametrize("repository,ref", [("http://example.com/x", "v1"), ("https://github.com/a/b", "v1; rm")])
def test_bad_settings_are_refused(tmp_path, repository, ref):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f'[tool.course.hosted]\nrepository = "{repository}"\nref = "{ref}"\n')
    with pytest.raises(ValueError, match=r"\[tool.course.hosted\]"):
        hosted.hosted_settings(pyproject)
