"""Every notebook's widgets work in a real browser: JupyterLab's own front-end in headless Chromium, driven by Playwright.

tests/test_widgets.py builds the widgets in Python; only a browser shows that the front-end renders them and that
moving an input reaches the kernel and changes what is shown. JupyterLab starts as ``make lab`` starts it (the
command of ``course_lib.lab``, loopback, a fresh token) on a temporary folder holding, for each notebook, its widget
cells and the cells they need at the smoke profile (tests/widget_slice.py: the notebook's own cells, copied unchanged;
a full Run All at the default profile trains for minutes). Each opens in its own page and runs through the
front-end's Run > Run All Cells, all four at once (their kernels share the wait for TensorFlow); then each test waits
for its notebook's widget to render, changes an input, sees the output change, and saves a screenshot to
runs/browser/<notebook>.png.

Needs a Chromium binary (Debian: ``apt-get install -y chromium``) and Playwright (in both locks); without either the
module is skipped with the reason. Playwright is pointed at the system's binary: it never downloads a browser.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - playwright is in both locks
    pytest.skip("playwright is not installed (it is in the locks: make test installs it)", allow_module_level=True)

CHROMIUM = os.environ.get("COURSE_CHROMIUM") or next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)
if CHROMIUM is None:
    pytest.skip("no Chromium binary (chromium or chromium-browser on PATH, or COURSE_CHROMIUM); Debian: "
                "apt-get install -y chromium", allow_module_level=True)

from course_lib import lab  # noqa: E402
from labserver import alive, jupyter_env, kernel_pids, stop, wait_until_serving  # noqa: E402
from widget_slice import widget_slice  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = REPO / "runs" / "browser"
SECONDS = 1000  # Playwright counts milliseconds
READY_TIMEOUT = 300 * SECONDS  # the kept cells at smoke, four kernels sharing 2 cores: about 2 minutes here
CHANGE_TIMEOUT = 90 * SECONDS  # one widget callback (an attack through the prediction service is the slowest)

# JupyterLab's user settings for the test server: no news prompt over the page, every cell kept in the DOM.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """JupyterLab (``make lab``'s command) on a folder of the notebooks' widget slices; stopped with its kernels."""
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "notebooks"
    root.mkdir()
    for notebook in NOTEBOOKS:
        nbformat.write(widget_slice(notebook)[0], root / notebook.name)
    env = jupyter_env(tmp)
    for name, value in SETTINGS.items():
        path = Path(env["JUPYTER_CONFIG_DIR"]) / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port, token = lab.free_port(8920), secrets.token_hex(24)
    log = tmp / "jupyterlab.log"  # a file, not a pipe nobody reads: a full pipe would block the server
    with log.open("w") as out:
        process = subprocess.Popen(lab.lab_command(port, token, notebook_dir=root, open_browser=False), env=env,
                                   stdout=out, stderr=subprocess.STDOUT, text=True)
    base = f"http://{lab.HOST}:{port}"
    try:
        wait_until_serving(process, base, token, log=log)
        yield base, token
    finally:
        kernels = kernel_pids(base, token)
        stopped = stop(process.pid)  # the server shuts its kernels down as it stops
        process.wait(timeout=10)
        left = [pid for pid in kernels if alive(pid) and not stop(pid)]
    assert stopped, "JupyterLab did not stop on SIGTERM"
    assert not left, f"kernels {left} did not stop"


@pytest.fixture(scope="module")
def pages(server):
    """One page per notebook, each told to Run All Cells at once, so the four kernels work in parallel."""
    base, token = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            opened = {}
            for notebook in NOTEBOOKS:  # all four load (and start their kernels) at once
                page = browser.new_page(viewport={"width": 1280, "height": 1100})
                # A workspace per page: pages sharing one would restore each other's notebooks as hidden tabs.
                page.goto(f"{base}/lab/workspaces/{notebook.stem}/tree/{notebook.name}?reset&token={token}",
                          wait_until="commit")
                opened[notebook.stem] = page
            for page in opened.values():
                run_all(page)
            yield opened
        finally:
            browser.close()


def run_all(page) -> None:
    """The learner's way: once the kernel is idle, open the Run menu and pick Run All Cells."""
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=120 * SECONDS)
    current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if current.count():  # fold the file browser away: more room for the notebook in the screenshot
        current.first.click()
    # Before the kernel is up the menu's Run All Cells can be disabled, and a click on it then does nothing.
    expect(page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle"))).to_be_visible(
        timeout=120 * SECONDS)
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    item = page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells"))
    expect(item).not_to_have_class(re.compile(r"lm-mod-disabled"))
    item.click()
    # It started when the first code cell's prompt turns from [ ] to [*] (or its number).
    expect(page.locator(".jp-CodeCell .jp-InputPrompt").first).to_have_text(re.compile(r"\[(\*|\d+)\]"),
                                                                            timeout=30 * SECONDS)


def outputs_text(page) -> str:
    return "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())


def widget_cell(page):
    """The widget cell (the slice's last cell) once its widget has rendered; fails early with a cell's traceback."""
    cell = page.locator(".jp-Notebook .jp-Cell").last
    try:
        page.wait_for_function(
            """() => {
                const cells = document.querySelectorAll('.jp-Notebook .jp-Cell');
                const last = cells[cells.length - 1];
                if (last && last.querySelector('.jp-OutputArea-output .jupyter-widgets')) return true;
                return [...document.querySelectorAll('.jp-OutputArea-output')].some(
                    o => /Traceback/.test(o.innerText));
            }""", timeout=READY_TIMEOUT, polling=500)
    except PlaywrightError as error:
        pytest.fail(f"no widget after {READY_TIMEOUT / SECONDS:.0f} s ({error.message.splitlines()[0]}); "
                    f"outputs so far:\n{outputs_text(page)[-3000:]}")
    if not cell.locator(".jupyter-widgets").count():
        pytest.fail(f"a cell failed before the widget cell:\n{outputs_text(page)[-3000:]}")
    expect(cell.locator(".jp-OutputArea-output .jupyter-widgets").first).to_be_visible()
    return cell


def output_image(cell) -> str:
    """The src (a data: URL) of the image the widget's output area shows, once there is one."""
    image = cell.locator(".widget-output img").first
    expect(image).to_be_visible(timeout=CHANGE_TIMEOUT)
    return image.get_attribute("src")


def expect_new_image(cell, before: str) -> str:
    image = cell.locator(".widget-output img").first
    expect(image).not_to_have_attribute("src", before, timeout=CHANGE_TIMEOUT)
    expect(image).to_be_visible(timeout=CHANGE_TIMEOUT)
    return image.get_attribute("src")


def press_slider(slider, key: str, times: int = 1) -> None:
    """Move an ipywidgets slider as a keyboard user does: focus its handle, press the arrow key."""
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(times):
        handle.press(key)


def drive_evasion_explorer(page, cell) -> str:
    """01: epsilon slider and attack dropdown over a grid of adversarial digits; one step of epsilon redraws it."""
    slider = cell.locator(".widget-slider").filter(has_text="eps")
    expect(slider).to_be_visible()
    expect(cell.locator(".widget-dropdown select")).to_have_value("pgd")
    readout = slider.locator(".widget-readout")
    before_value, before_image = readout.inner_text(), output_image(cell)
    press_slider(slider, "ArrowRight")
    expect(readout).not_to_have_text(before_value, timeout=CHANGE_TIMEOUT)
    expect_new_image(cell, before_image)
    return f"eps {before_value} -> {readout.inner_text()}: the adversarial digits were redrawn"


def drive_epsilon_calculator(page, cell) -> str:
    """02: five inputs over an epsilon read-out; a slider step and a typed dataset size each change epsilon."""
    expect(cell.locator(".widget-slider")).to_have_count(4)
    shown = cell.locator(".widget-html")
    expect(shown).to_contain_text("epsilon =")
    first = shown.inner_text()
    noise = cell.locator(".widget-slider").filter(has_text="noise multiplier")
    noise_before = noise.locator(".widget-readout").inner_text()
    press_slider(noise, "ArrowRight")  # one step, one update: the next text is that step's
    expect(noise.locator(".widget-readout")).not_to_have_text(noise_before)
    expect(shown).not_to_have_text(first, timeout=CHANGE_TIMEOUT)
    second = shown.inner_text()
    size = cell.locator(".widget-text").filter(has_text="dataset size").locator("input")
    size.fill("30000")
    size.press("Enter")
    batch = int(cell.locator(".widget-slider").filter(has_text="batch size").locator(".widget-readout").inner_text())
    # The read-out names the sampling rate batch / dataset size: this one is the new size's.
    expect(shown).to_contain_text(f"sampling rate {batch / 30000:.4f}", timeout=CHANGE_TIMEOUT)
    third = shown.inner_text()
    assert len({_epsilon(first), _epsilon(second), _epsilon(third)}) == 3, (first, second, third)
    return (f"{_epsilon(first)} -> noise {noise_before} -> {noise.locator('.widget-readout').inner_text()} -> "
            f"{_epsilon(second)} -> dataset size 30000 -> {_epsilon(third)}")


def _epsilon(text: str) -> str:
    found = re.search(r"epsilon = [\d.]+", text)
    return found.group(0) if found else text


def drive_identity_explorer(page, cell) -> str:
    """03: a Datamon dropdown over its portrait, the attack's reconstructions and a trait table; another name
    redraws the images and the table."""
    choice = cell.locator(".widget-dropdown select")
    names = choice.locator("option").all_inner_texts()
    assert len(names) >= 2, names
    before_image = output_image(cell)
    table = cell.locator(".widget-output table").first
    expect(table).to_be_visible(timeout=CHANGE_TIMEOUT)
    before_table = table.inner_text()
    choice.select_option(label=names[1])
    expect_new_image(cell, before_image)
    expect(table).not_to_have_text(before_table, timeout=CHANGE_TIMEOUT)
    return f"Datamon {names[0]} -> {names[1]}: portraits and trait table redrawn"


def drive_membership_policy(page, cell) -> str:
    """04: output format, rounding and a button that attacks through the prediction service; run it, switch the
    service to labels only, run it again, read the other result."""
    button = cell.locator("button", has_text="run the attack")
    shown = cell.locator(".widget-output")
    button.click()
    expect(shown).to_contain_text("rounded (decimals 1): membership AUC", timeout=CHANGE_TIMEOUT)
    first = _result_line(shown.inner_text())
    cell.locator(".widget-dropdown select").select_option("labels")
    button.click()
    expect(shown).to_contain_text("labels (decimals 1): membership AUC", timeout=CHANGE_TIMEOUT)
    second = _result_line(shown.inner_text())
    assert not shown.get_by_text("rounded (decimals 1)").count(), "the output area kept the previous run's result"
    return f"{first} -> output labels -> {second}"


def _result_line(text: str) -> str:
    # Only the result line: a loaded machine may add a log line of the service's web server (waitress's
    # "Task queue depth is 1" warning) above it.
    return next(line for line in text.splitlines() if "membership AUC" in line).strip()


DRIVERS = {
    "01_model_attacks": drive_evasion_explorer,
    "02_dp_sgd": drive_epsilon_calculator,
    "03_secret_revealer": drive_identity_explorer,
    "04_defenses": drive_membership_policy,
}


def test_every_notebook_has_a_driver():
    assert sorted(DRIVERS) == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", [p.stem for p in NOTEBOOKS])
def test_widgets_render_and_answer_in_chromium(notebook, pages):
    page = pages[notebook]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        cell = widget_cell(page)
        what = DRIVERS[notebook](page, cell)
    except BaseException:
        page.screenshot(path=str(SCREENSHOTS / f"{notebook}-failed.png"))
        raise
    widget_text = cell.locator(".jp-OutputArea-output .jupyter-widgets").first.inner_text()
    assert "Traceback" not in widget_text, widget_text
    cell.evaluate("cell => cell.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(SCREENSHOTS / f"{notebook}.png"))
    print(f"{notebook}: {what}")
