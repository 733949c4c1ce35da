"""Every notebook's exercises follow the house format (docs/architecture.md, "Exercises").

Each exercise is three cells: a markdown cell starting ``**Exercise N.**``; one code cell tagged ``exercise`` that
leaves a ``# TODO``, prints a ``TODO:`` line and calls nothing slow (test_notebooks.py runs it at smoke); a markdown
cell ``<details><summary>Solution</summary>`` ... ``</details>`` with ```python blocks that parse. A solution is never a
code cell, so Run All and papermill never execute one.
"""
import ast
import json
import re

import pytest

from course_lib import run

NOTEBOOKS = run.available_notebooks()
EXERCISE = re.compile(r"\*\*Exercise (\d+)\.\*\*")
SOLUTION_OPEN, SOLUTION_CLOSE = "<details><summary>Solution</summary>", "</details>"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
TODO_PRINT = re.compile(r"""^\s*print\(f?["']TODO:""", re.M)
# A starter cell calls none of these: they train, attack, query or search, which is the solution's work (and slow).
SLOW_WORDS = ("train", "fit", "attack", "pgd", "fgsm", "invert", "inversion", "gmi", "curve", "search", "predict",
              "serve", "service", "extract", "experiment", "_vs_", "evaluate")
SOLUTION_MARKERS = ("<details", "<summary", "Solution</summary>")


def cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell):
    return "".join(cell["source"])


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def called_names(code):
    """The name of every function the code calls: ``f`` for ``f(...)``, ``g`` for ``a.b.g(...)``."""
    names = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            func = node.func
            names.append(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return names


def slow_calls(code):
    return [name for name in called_names(code) if any(word in name.lower() for word in SLOW_WORDS)]


def exercises(path):
    """``[(number, index of the question cell)]`` for the markdown cells that start with ``**Exercise N.**``."""
    found = []
    for i, cell in enumerate(cells(path)):
        match = EXERCISE.match(source(cell).lstrip()) if cell["cell_type"] == "markdown" else None
        if match:
            found.append((int(match.group(1)), i))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_are_numbered_from_one_each_in_its_own_cell(path):
    found = exercises(path)
    starts = {i for _, i in found}
    buried = [i for i, cell in enumerate(cells(path))
              if cell["cell_type"] == "markdown" and EXERCISE.search(source(cell)) and i not in starts]
    assert not buried, f"{path.name}: cells {buried} hold an **Exercise N.** that does not start its own cell"
    assert found, f"{path.name} has no exercise (a markdown cell starting **Exercise 1.**)"
    assert [n for n, _ in found] == list(range(1, len(found) + 1)), \
        f"{path.name}: exercises numbered {[n for n, _ in found]}, expected 1..{len(found)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_exercise_is_question_then_starter_cell_then_folded_solution(path):
    nb = cells(path)
    for number, i in exercises(path):
        where = f"{path.name}, exercise {number} (cell {i})"
        assert i + 2 < len(nb), f"{where}: needs a starter code cell and a solution cell after it"
        starter, solution = nb[i + 1], nb[i + 2]
        assert starter["cell_type"] == "code" and "exercise" in tags(starter), \
            f"{where}: the next cell must be one code cell tagged 'exercise'"
        assert solution["cell_type"] == "markdown" and source(solution).strip().startswith(SOLUTION_OPEN) \
            and source(solution).strip().endswith(SOLUTION_CLOSE), \
            f"{where}: the cell after the starter must be a markdown {SOLUTION_OPEN} ... {SOLUTION_CLOSE}"
        assert source(solution).count("<details") == 1, f"{where}: one solution block per solution cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_starter_cells_leave_a_todo_and_call_nothing_slow(path):
    nb = cells(path)
    starters = [i for i, cell in enumerate(nb) if cell["cell_type"] == "code" and "exercise" in tags(cell)]
    assert starters == [i + 1 for _, i in exercises(path)], \
        f"{path.name}: cells tagged 'exercise' {starters} are not exactly the ones right after each question"
    for i in starters:
        code = source(nb[i])
        assert "# TODO" in code, f"{path.name}, cell {i}: say in a # TODO comment what to write"
        assert TODO_PRINT.search(code), f'{path.name}, cell {i}: print a line starting "TODO:" (print("TODO: ...")'
        slow = slow_calls(code)
        assert not slow, f"{path.name}, cell {i}: a starter cell must not call {slow}: that is the solution's work"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solutions_are_folded_markdown_whose_code_parses(path):
    nb = cells(path)
    solutions = [i for i, cell in enumerate(nb) if cell["cell_type"] == "markdown" and SOLUTION_OPEN in source(cell)]
    assert solutions == [i + 2 for _, i in exercises(path)], \
        f"{path.name}: solution cells {solutions} are not exactly the ones two cells after each question"
    for i in solutions:
        text = source(nb[i])
        assert "<details open" not in text, f"{path.name}, cell {i}: a solution is folded by default"
        blocks = PYTHON_BLOCK.findall(text)
        assert blocks, f"{path.name}, cell {i}: put the solution's code in a ```python block"
        for block in blocks:
            try:
                ast.parse(block)
            except SyntaxError as error:
                pytest.fail(f"{path.name}, cell {i}: the solution's python block does not parse: {error}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_solution_is_a_code_cell(path):
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] != "code":
            continue
        code = source(cell)
        assert not code.lstrip().lower().startswith("# solution"), \
            f"{path.name}, cell {i}: a solution as a code cell runs on Run All; fold it in a markdown cell"
        assert not any(marker in code for marker in SOLUTION_MARKERS), f"{path.name}, cell {i} holds a solution"
        assert not cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"), \
            f"{path.name}, cell {i}: a hidden code cell still runs; fold solutions in a markdown cell instead"


def test_the_slow_call_rule_catches_what_solutions_do_and_passes_starters():
    for solution in ("adv = evasion.pgd(model, x, y, 0.1, steps=40)", "model.fit(x, y)",
                     "classifiers.train_classifier(model, x, y)", "membership.membership_attack(q, m, n)",
                     "inversion.gmi_attack(G, D, T, labels, restarts=2, iterations=8, seed=0)",
                     "extraction.extraction_curve(api, pool, [100])", "overfit.predict(x, verbose=0)",
                     "query_limits.membership_through_service(m, a, b, output='rounded')",
                     "blackbox_inversion.through_service(G, D, T, labels, 15, settings)"):
        assert slow_calls(solution), solution
    for starter in ('budget = max(A.extraction_budgets)\nprint(f"TODO: {budget}")',
                    "import dataclasses\nsettings = dataclasses.replace(search)",
                    "curve = sorted(points, key=lambda p: p['budget'])\nprint(round(len(curve), 1))"):
        assert not slow_calls(starter), starter
