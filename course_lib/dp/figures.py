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


def model_label(curve: Mapping[str, Any]) -> str:
    """"non-private" or "sigma=0.7 relu, epsilon 2.2" for one trained model (a ``mia_vs_epsilon`` curve)."""
    if curve.get("epsilon") is None:
        return "non-private"
    activation = curve.get("activation") or ""
    return f"sigma={curve['noise_multiplier']:g} {activation}, epsilon {curve['epsilon']:.2g}"


def plot_mia_roc(curves: Sequence[Mapping[str, Any]], axes: Any = None) -> Any:
    """Log-log ROC of each membership attack (one panel per attack, one curve per model), chance as the diagonal.

    ``curves`` are ``course_lib.dp.audit.attack_rows``' second output. On log axes the region that matters, a low
    false-positive rate, takes half the plot instead of a sliver in the corner; the dotted verticals mark 1 % and
    0.1 % FPR.
    """
    import matplotlib.pyplot as plt

    attacks = list(dict.fromkeys(c["attack"] for c in curves))
    if not attacks:
        raise ValueError("plot_mia_roc needs at least one curve")
    if axes is None:
        _, axes = plt.subplots(1, len(attacks), figsize=(5.5 * len(attacks), 4.2), squeeze=False)
        axes = axes[0]
    titles = {"loss": "loss-threshold attack", "calibrated": "calibrated attack (offline LiRA)"}
    for ax, attack in zip(axes, attacks):
        group = [c for c in curves if c["attack"] == attack]
        # zero rates cannot sit on log axes: draw them at half the smallest rate the candidates can show
        floor = min(0.5 / max(c.get("nonmembers") or len(c["fpr"]), c.get("members") or 1) for c in group)
        for c in group:
            fpr = np.maximum(np.asarray(c["fpr"], float), floor)
            tpr = np.maximum(np.asarray(c["tpr"], float), floor)
            ax.plot(fpr, tpr, label=f"{model_label(c)} (AUC {c['auc']:.3f})", linewidth=1.3)
        ax.plot([floor, 1], [floor, 1], color="grey", linestyle="--", linewidth=1, label="chance")
        for level in (0.01, 0.001):
            ax.axvline(level, color="black", linestyle=":", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(floor, 1)
        ax.set_ylim(floor, 1)
        ax.set_xlabel("false-positive rate (non-members called members)")
        ax.set_ylabel("true-positive rate (members found)")
        ax.set_title(titles.get(attack, attack), fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="lower right")
    return axes
