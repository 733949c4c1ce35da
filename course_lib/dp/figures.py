"""Figures and the epsilon calculator of notebook 02 (computation stays in ``accounting`` and ``training``)."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from course_lib.dp import accounting


def neighbouring_outputs(epsilon: float = 1.0, sensitivity: float = 1.0, ax: Any = None) -> Any:
    """The idea of DP in one picture: the noisy answer on a dataset and on the same dataset minus one person.

    A Gaussian mechanism answers ``f(D) + noise``; removing one person moves ``f`` by at most the sensitivity. When
    the two output distributions overlap this much, no observer can tell which dataset was used: at every output the
    ratio of their densities stays within about ``e^epsilon`` (except on a tail of probability delta).
    """
    import matplotlib.pyplot as plt

    sigma = sensitivity * math.sqrt(2 * math.log(1.25 / 1e-5)) / epsilon  # the classic Gaussian-mechanism calibration
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    grid = np.linspace(-4 * sigma, sensitivity + 4 * sigma, 400)
    for shift, label in ((0.0, "trained on D (n people)"), (sensitivity, "trained on D' (n - 1 people)")):
        density = np.exp(-0.5 * ((grid - shift) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        ax.plot(grid, density, label=label)
        ax.fill_between(grid, density, alpha=0.2)
    ax.set_xlabel("what the model (or query) outputs")
    ax.set_ylabel("probability density")
    ax.set_title(f"Gaussian mechanism (epsilon {epsilon:g}, delta 1e-5): the two are hard to tell apart", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return ax


def plot_tradeoff(rows: Sequence[Mapping[str, Any]], axes: Any = None) -> Any:
    """Test accuracy against epsilon (PLD) and against training time, one point per run; non-private as a line."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    baseline = [r for r in rows if r.get("epsilon_pld") is None]
    private = [r for r in rows if r.get("epsilon_pld") is not None]
    for activation, marker in (("relu", "o"), ("tanh", "s")):
        group = [r for r in private if r.get("activation") == activation]
        if not group:
            continue
        axes[0].scatter([r["epsilon_pld"] for r in group], [r["test_acc"] for r in group], marker=marker,
                        label=f"DP-SGD, {activation}")
        axes[1].scatter([r["seconds"] for r in group], [r["test_acc"] for r in group], marker=marker,
                        label=f"DP-SGD, {activation}")
        for r in group:
            axes[0].annotate(f"sigma={r['noise_multiplier']:g}", (r["epsilon_pld"], r["test_acc"]), fontsize=8,
                             xytext=(4, -10), textcoords="offset points")
    for r in baseline:
        for ax in axes:
            ax.axhline(r["test_acc"], color="grey", linestyle="--", linewidth=1, label="non-private")
        axes[1].scatter([r["seconds"]], [r["test_acc"]], color="grey", marker="x")
    axes[0].axvline(3.0, color="red", linestyle=":", linewidth=1, label="epsilon = 3")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("epsilon (PLD, delta = 1e-5)")
    axes[1].set_xlabel("training time (s)")
    for ax in axes:
        ax.set_ylabel("MNIST test accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title("more noise: smaller epsilon, lower accuracy")
    axes[1].set_title("what each point cost")
    return axes


def epsilon_table(
    noise_multiplier: float, batch_size: int, dataset_size: int, epochs: Sequence[float], delta: float = 1e-5
) -> list[dict[str, float]]:
    """RDP and PLD side by side over several epoch counts (rows for ``viz.show_table``)."""
    rows = []
    for e in epochs:
        eps = accounting.epsilons(noise_multiplier, batch_size, dataset_size, e, delta)
        rows.append({"epochs": e, "epsilon_rdp": round(eps["rdp"], 3), "epsilon_pld": round(eps["pld"], 3),
                     "PLD tighter by": f"{100 * (1 - eps['pld'] / eps['rdp']):.0f} %"})
    return rows


def epsilon_calculator(
    noise_multiplier: float = 1.1, batch_size: int = 256, epochs: float = 15, dataset_size: int = 60000,
    delta: float = 1e-5,
) -> Any:
    """An ipywidgets calculator over ``accounting.epsilons``: move a slider, read both epsilons."""
    import ipywidgets as widgets

    style = {"description_width": "120px"}
    noise = widgets.FloatSlider(value=noise_multiplier, min=0.3, max=5.0, step=0.05, description="noise multiplier",
                                style=style)
    batch = widgets.IntSlider(value=batch_size, min=16, max=4096, step=16, description="batch size", style=style)
    n_epochs = widgets.FloatSlider(value=epochs, min=0.5, max=100, step=0.5, description="epochs", style=style)
    size = widgets.IntText(value=dataset_size, description="dataset size", style=style)
    log_delta = widgets.FloatSlider(value=math.log10(delta), min=-10, max=-3, step=0.5,
                                    description="log10 delta", style=style)
    out = widgets.HTML()

    def update(_=None) -> None:
        d = 10 ** log_delta.value
        try:
            eps = accounting.epsilons(noise.value, batch.value, size.value, n_epochs.value, d)
        except ValueError as error:  # ConfigError is a ValueError: show the sentence instead of a traceback
            out.value = f"<b style='color:#b00'>{error}</b>"
            return
        warn = " (delta is not well below 1/n!)" if d >= 1.0 / max(size.value, 1) else ""
        out.value = (f"<b>epsilon = {eps['pld']:.2f}</b> (PLD) / {eps['rdp']:.2f} (RDP) at delta = {d:.0e}{warn}; "
                     f"{accounting.steps_for(n_epochs.value, batch.value, size.value)} steps, "
                     f"sampling rate {batch.value / size.value:.4f}")

    for w in (noise, batch, n_epochs, size, log_delta):
        w.observe(update, names="value")
    update()
    return widgets.VBox([noise, batch, n_epochs, size, log_delta, out])
