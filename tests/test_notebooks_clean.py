"""Notebooks are committed clean: no outputs, kernel python3, the house parameters cell."""
import json

import pytest

from course_lib import run

NOTEBOOKS = run.available_notebooks()
HOUSE_PARAMETERS = {"PROFILE", "SEED", "INTERACTIVE", "RETRAIN"}


def test_the_course_has_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no NN_name.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_with_kernel_python3(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; strip them before committing"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_is_the_house_one(path):
    assert set(run.declared_parameters(path)) == HOUSE_PARAMETERS
