"""The talk's question answered from this run: which attack was credible, at what cost, and what stopped it.

The talk called a privacy attack credible when three conditions hold together: a sensitive model, enough access
(weights, or a generous API), and an affordable cost. Notebook 04 measures each attack and each defence; this module
reads those recorded results (RESULTS.md names) and lays them out as one table and a few sentences, so the
conclusion of the course is built from its own measurements and changes when they do.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

# When an attack counts as having worked: clearly above what no attack gets (a copy agreeing by chance with one of
# ten digit labels, a coin for membership, chance top-1 for inversion).
EXTRACTION_WORKED = 0.5  # fidelity
MIA_WORKED = 0.6  # AUC
INVERSION_WORKED = 2.0  # times chance top-1

REQUIRED = ("attack_costs", "extraction_vs_budget", "mia_vs_output", "dp_vs_attacks", "whitebox_inversion_top1",
            "blackbox_inversion_top1")


def _check(results: Mapping[str, Any]) -> None:
    missing = [name for name in REQUIRED if results.get(name) is None]
    if missing:
        raise ValueError(f"the verdict needs this run's {', '.join(missing)}: run the notebook's sections first")


def _cost(costs: Sequence[Mapping[str, Any]], *names: str) -> tuple[float, int]:
    rows = [r for r in costs if r["attack"] in names]
    return sum(r["seconds"] for r in rows), sum(r["queries"] for r in rows)


def _useful_dp(dp_rows: Sequence[Mapping[str, Any]], useful_acc: float) -> tuple[dict, dict | None]:
    """The non-private row and the most private row that kept ``useful_acc`` test accuracy (None if none did)."""
    plain = next(r for r in dp_rows if r["epsilon"] is None)
    useful = [r for r in dp_rows if r["epsilon"] is not None and r["test_acc"] >= useful_acc]
    return dict(plain), (dict(min(useful, key=lambda r: r["epsilon"])) if useful else None)


def credibility_rows(results: Mapping[str, Any], *, chance_top1: float, useful_acc: float = 0.7) -> list[dict]:
    """One row per privacy attack: what it needed, what it cost here, how well it worked, and the best defence
    measured against it with the accuracy that defence cost the model's owner."""
    _check(results)
    costs = results["attack_costs"]
    plain, dp = _useful_dp(results["dp_vs_attacks"], useful_acc)
    extraction = results["extraction_vs_budget"]
    probs = [p for p in extraction if p["output"] == "probs"] or list(extraction)
    largest, smallest = max(probs, key=lambda p: p["budget"]), min(probs, key=lambda p: p["budget"])
    mia = {p["output"]: p["auc"] for p in results["mia_vs_output"]}
    rows = []
    seconds, queries = _cost(costs, "model extraction (probs)")
    rows.append({
        "attack": "model extraction", "needs": "an API key and unlabelled data of the same kind",
        "seconds": seconds, "queries": queries, "worked": largest["fidelity"] >= EXTRACTION_WORKED,
        "success": f"fidelity {largest['fidelity']:.0%} at {largest['budget']} queries",
        "best defence measured": f"a budget of {smallest['budget']} queries per key: fidelity "
                                 f"{smallest['fidelity']:.0%}",
        "owner's accuracy cost": "none (honest clients get fewer answers)",
    })
    seconds, queries = _cost(costs, "membership inference (probs)")
    labels_auc = mia.get("labels")
    dp_text = (f"DP at epsilon {dp['epsilon']:.1f}: AUC {dp['mia_auc']:.2f}" if dp
               else f"DP: no epsilon kept {useful_acc:.0%} test accuracy")
    auc = mia.get("probs", max(mia.values()))
    rows.append({
        "attack": "membership inference", "needs": "an API key and the candidate records",
        "seconds": seconds, "queries": queries, "worked": auc >= MIA_WORKED,
        "success": f"AUC {auc:.2f} (a coin: 0.50)",
        "best defence measured": dp_text + (f"; labels only: AUC {labels_auc:.2f}" if labels_auc is not None else ""),
        "owner's accuracy cost": _dp_cost(plain, dp) + ("; labels only: none" if labels_auc is not None else ""),
    })
    seconds, queries = _cost(costs, "GMI inversion (white box)", "GAN prior for inversion (once)")
    white, black = results["whitebox_inversion_top1"], results["blackbox_inversion_top1"]
    rows.append({
        "attack": "model inversion (GMI)", "needs": "the weights and a GAN trained on public data of the same kind",
        "seconds": seconds, "queries": queries, "worked": white >= INVERSION_WORKED * chance_top1,
        "success": f"judge top-1 {white:.0%} (chance {chance_top1:.0%})",
        "best defence measured": (f"serving instead of publishing: top-1 {black:.0%} through the API; "
                                  + (f"DP at epsilon {dp['epsilon']:.1f}: top-1 {dp['gmi_top1']:.0%}" if dp
                                     else f"DP: no epsilon kept {useful_acc:.0%} test accuracy")),
        "owner's accuracy cost": "serving: none; " + _dp_cost(plain, dp),
    })
    return rows


def _dp_cost(plain: Mapping[str, Any], dp: Mapping[str, Any] | None) -> str:
    if dp is None:
        return "DP: the model stopped being useful"
    return f"DP: {dp['test_acc'] - plain['test_acc']:+.1%} test accuracy"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} minutes"


def conclusion(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The answer to the talk's title, one sentence per attack, from the rows of ``credibility_rows``."""
    sentences = []
    for row in rows:
        owner_cost = row["owner's accuracy cost"]
        sentences.append(
            f"{row['attack'][0].upper() + row['attack'][1:]} needed {row['needs']}; here it cost "
            f"{_duration(row['seconds'])} of CPU" + (f" and {row['queries']} queries" if row["queries"] else "")
            + f" and reached {row['success']}, which "
            + ("counts as working" if row["worked"] else "does not beat its baseline clearly")
            + f". Best defence measured: {row['best defence measured']} ({owner_cost}).")
    worked = [row["attack"] for row in rows if row["worked"]]
    failed = [row["attack"] for row in rows if not row["worked"]]
    answer = ("So: a credible threat when the three conditions meet (a model of sensitive data, the access each "
              "attack needs, and a cost worth the secret). ")
    if worked:
        answer += (f"Here {', '.join(worked)} worked at a cost a motivated attacker can pay, and each was weakened "
                   "by removing one condition: publish less (serve, don't ship weights), answer less (budgets, "
                   "labels), or train with DP where its accuracy cost is acceptable.")
    if failed:
        names = ", ".join(failed)
        answer += (f" {names[0].upper() + names[1:]} did not clearly beat its baseline in this run, so this run "
                   "does not show it to be credible.")
    sentences.append(answer)
    return sentences
