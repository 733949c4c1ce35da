"""Numbers in the notebooks' prose come from the run: a markdown cell may not state a measured-looking figure.

Measured figures go stale as soon as the code or the machine changes, so sentences that state one are printed from
the recorded results (``display(Markdown(f"..."))``). What markdown may still hold:
- figures cited from a source the sentence names (a paper, "et al.", a slide, a tutorial, a re-run someone reports);
- arithmetic that is not measured (chance levels: the sentence says "chance", "guessing" or "coin");
- sizes and settings (``32 x 32``, a clip, a momentum, a loss weight, a threshold), anything in LaTeX math or code;
- the parameters an exercise asks the learner to use.
"""
import json
import re

import pytest

from course_lib import run

NOTEBOOKS = run.available_notebooks()
# a percentage, a decimal, or a number with a unit of time, size or ratio
MEASURED = re.compile(
    r"(?<![\w.\-/])(\d+(?:\.\d+)?\s*(?:%|s\b|seconds?\b|minutes?\b|min\b|hours?\b|bits?\b|x\b|times\b)"
    r"|\d+\.\d+)"
)
CITED = re.compile(r"et al\.|paper|slide|tutorial|reports?\b|re-run|\(\d{4}\)|, \d{4}\)|CVPR", re.I)
# a chance level is arithmetic, not a measurement, when the word sits right next to the number
CHANCE = re.compile(r"chance|guessing|coin", re.I)
SETTINGS = re.compile(r"\d+\s*x\s*\d+|\d+(?:\.\d+){3}")  # image sizes, IP addresses
# a number right after one of these words is a setting the course chose, not a measurement
SETTING_BEFORE = re.compile(r"(clip|momentum|weight|penalty|learning rate|\blr|beta\w*|decay|Adam|threshold)"
                            r"(\W+[\w.]{1,4}){0,2}\W*$", re.I)


def _prose(source: str) -> str:
    """The markdown a reader reads as sentences: without code blocks, code spans, math and HTML tags."""
    source = re.sub(r"```.*?```", " ", source, flags=re.S)
    source = re.sub(r"`[^`]*`", " ", source)
    source = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", source, flags=re.S)
    source = SETTINGS.sub(" ", source)
    return re.sub(r"<[^>]+>", " ", source)


def measured_numbers(source: str) -> list[str]:
    """The measured-looking figures of a markdown cell that no citation covers, each with its sentence."""
    if source.lstrip().startswith("**Exercise"):
        return []  # an exercise states the settings the learner should try
    found = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n\s*\n|\n[-*] ", _prose(source)):
        if CITED.search(sentence):
            continue
        found += [f"{m.group(0)!r} in: {' '.join(sentence.split())[:160]}" for m in MEASURED.finditer(sentence)
                  if not SETTING_BEFORE.search(sentence[max(0, m.start() - 30):m.start()])
                  and not CHANCE.search(sentence[max(0, m.start() - 45):m.end() + 25])]
    return found


def test_the_rule_flags_typed_results_and_spares_citations_settings_and_code():
    assert measured_numbers("Our class run: AUC 0.63 at 0 decimals.")
    assert measured_numbers("The tanh run reached 95.3 % at epsilon 2.17.")
    assert measured_numbers("It took 12 minutes on this machine.")
    assert measured_numbers("Near chance on a CPU budget (when we tried notebook 03's small CNN on fifty portraits: 63 %).")
    assert not measured_numbers("Zhang et al. (2020) report 46 % top-1 on CelebA.")
    assert not measured_numbers("Chance is 1/15 ≈ 6.7 % top-1.")
    assert not measured_numbers("Portraits are 32 x 32 pixels; the loss is $0.5 \\|x\\|^2$, see `lr=0.15`.")
    assert not measured_numbers("**Exercise 2.** Keep the budget below 80 % fidelity.")
    assert not measured_numbers("Section 5 shows it; delta 1e-5 for 60,000 images.")
    assert not measured_numbers("Adam betas (0.5, 0.9), clip 1.0, on 127.0.0.1; the usefulness threshold is 70 %.")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_markdown_cell_types_a_measured_number(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    typed = [f"cell {i}: {hit}" for i, cell in enumerate(cells) if cell["cell_type"] == "markdown"
             for hit in measured_numbers("".join(cell["source"]))]
    assert not typed, "print these from the run's results instead:\n" + "\n".join(typed)
