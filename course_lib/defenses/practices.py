"""The talk's good practices, each next to the measurement of notebook 04 that supports it and what it costs.

Advice without evidence is easy to ignore; here each practice cites a number this run measured, so the table changes
when the profile or the seed does, and a practice whose measurement does not support it says so.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence


def _curve(points: Sequence[Mapping[str, Any]], output: str) -> list[Mapping[str, Any]]:
    return sorted((p for p in points if p["output"] == output), key=lambda p: p["budget"])


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


def good_practices(
    *,
    extraction_points: Sequence[Mapping[str, Any]],
    mia_points: Sequence[Mapping[str, Any]],
    dp_rows: Sequence[Mapping[str, Any]],
    whitebox_top1: float,
    blackbox_top1: float,
    blackbox_queries: int,
    chance_top1: float,
    mia_budget_points: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, str]]:
    """Rows ``{"practice", "measured here", "what it costs"}`` built from the results the notebook recorded."""
    if not extraction_points or not mia_points or not dp_rows:
        raise ValueError("good_practices needs the extraction, membership and DP results of this run")
    probs = _curve(extraction_points, "probs")
    labels = _curve(extraction_points, "labels") or probs
    small, big = probs[0], probs[-1]
    auc = {p["output"]: p["auc"] for p in mia_points}
    plain = next((r for r in dp_rows if r["epsilon"] is None), dp_rows[0])
    private = [r for r in dp_rows if r["epsilon"] is not None]
    strongest = min(private, key=lambda r: r["epsilon"]) if private else plain
    limits = (f"extraction fidelity {_pct(small['fidelity'])} with {small['budget']} queries, "
              f"{_pct(big['fidelity'])} with {big['budget']} (full probabilities)")
    mia_budget = _curve(mia_budget_points, "probs")
    if mia_budget:
        low, high = mia_budget[0], mia_budget[-1]
        limits += (f"; membership AUC over all candidates {low['auc']:.2f} with {low['budget']} queries, "
                   f"{high['auc']:.2f} with {high['budget']}")
    rows = [
        {
            "practice": "limit API access and the number of queries per key",
            "measured here": limits,
            "what it costs": "keys and accounting to run; honest heavy users need higher quotas",
        },
        {
            "practice": "return less information (labels, or rounded scores)",
            "measured here": (f"membership AUC {auc.get('probs', float('nan')):.2f} with probabilities, "
                              f"{auc.get('rounded', float('nan')):.2f} rounded, "
                              f"{auc.get('labels', float('nan')):.2f} labels only; extraction from labels: "
                              f"{_pct(labels[-1]['fidelity'])} at {labels[-1]['budget']} queries"),
            "what it costs": "clients lose calibrated confidences; labels still leak through many queries",
        },
        {
            "practice": "do not publish white-box models trained on sensitive data",
            "measured here": (f"inversion top-1 {_pct(whitebox_top1)} with the weights (GMI), "
                              f"{_pct(blackbox_top1)} through the API with {blackbox_queries:,} queries "
                              f"(chance {_pct(chance_top1)})"),
            "what it costs": "no offline or on-device use without other protection; serving costs",
        },
        {
            "practice": "train with differential privacy",
            "measured here": (f"membership AUC {plain['mia_auc']:.2f} without DP, {strongest['mia_auc']:.2f} at "
                              f"epsilon {strongest['epsilon'] or float('nan'):.1f}; GMI top-1 "
                              f"{_pct(plain['gmi_top1'])} -> {_pct(strongest['gmi_top1'])}"),
            "what it costs": (f"test accuracy {_pct(plain['test_acc'])} -> {_pct(strongest['test_acc'])}; "
                              "slower training; a public feature extractor to keep utility"),
        },
        {
            "practice": "minimise / anonymise the training data",
            "measured here": ("what is not in the training set cannot leak: every attack above only recovers "
                              "what the model learnt from its data"),
            "what it costs": "less data, sometimes a weaker model; anonymisation must survive inversion",
        },
    ]
    return rows
