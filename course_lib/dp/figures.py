"""Figures of notebook 02 (computation stays in ``accounting`` and ``training``; the epsilon calculator is in
``course_lib.widgets``)."""
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
    """Test accuracy against epsilon (PLD) and against training time, one point per run; non-private as a line.

    Labels come from the rows (optimizer, activation, epochs), so the legend says what was run.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    baseline = [r for r in rows if r.get("epsilon_pld") is None]
    private = [r for r in rows if r.get("epsilon_pld") is not None]
    for activation, marker in (("relu", "o"), ("tanh", "s")):
        group = [r for r in private if r.get("activation") == activation]
        if not group:
            continue
        label = f"DP-{str(group[0].get('optimizer', 'sgd')).capitalize()}, {activation}"
        axes[0].scatter([r["epsilon_pld"] for r in group], [r["test_acc"] for r in group], marker=marker, label=label)
        axes[1].scatter([r["seconds"] for r in group], [r["test_acc"] for r in group], marker=marker, label=label)
        for r in group:
            axes[0].annotate(f"sigma={r['noise_multiplier']:g}, {r['epochs']} ep", (r["epsilon_pld"], r["test_acc"]),
                             fontsize=8, xytext=(4, -10), textcoords="offset points")
    for r in baseline:
        for ax in axes:
            ax.axhline(r["test_acc"], color="grey", linestyle="--", linewidth=1,
                       label=f"non-private, {r['epochs']} ep")
        axes[1].scatter([r["seconds"]], [r["test_acc"]], color="grey", marker="x")
    axes[0].axvline(3.0, color="red", linestyle=":", linewidth=1, label="epsilon = 3")
    axes[0].set_xscale("log")
    delta = next((r["delta"] for r in private if r.get("delta")), None)
    sampling = next((r["sampling"] for r in private if r.get("sampling")), "poisson")
    axes[0].set_xlabel(f"epsilon per image (PLD, delta = {delta:g}, {sampling} sampling)" if delta
                       else "epsilon per image (PLD)")
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
