"""The talk's question answered from this run: which attack was credible, at what cost, and what stopped it.

The talk called a privacy attack credible when three conditions hold together: a sensitive model, enough access
(weights, or a generous API), and an affordable cost. Notebook 04 measures each attack and each defence; this module
reads those recorded results (RESULTS.md names) and lays them out as one table and a few sentences, so the
conclusion of the course is built from its own measurements and changes when they do.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

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


OWNER = "owner's cost"


def _defence(name: str, outcome: str, stopped: bool, owner_cost: str) -> dict[str, Any]:
    return {"defence": name, "outcome": outcome, "stopped": stopped, OWNER: owner_cost}


def credibility_rows(results: Mapping[str, Any], *, chance_top1: float, useful_acc: float = 0.7) -> list[dict]:
    """One row per privacy attack: what it needed, what it cost here, how well it worked, and each defence measured
    against it: its outcome, whether it brought the attack below the attack's "worked" line, and its owner's cost."""
    _check(results)
    costs = results["attack_costs"]
    plain, dp = _useful_dp(results["dp_vs_attacks"], useful_acc)

    def dp_defence(score: Callable[[Mapping[str, Any]], float], shown: str, worked_line: float) -> dict[str, Any]:
        """The most private useful DP target against one attack (or why there is none)."""
        if dp is None:
            return _defence("DP", f"no epsilon kept {useful_acc:.0%} test accuracy", False, "the model")
        return _defence(f"DP at epsilon {dp['epsilon']:.1f}", shown.format(score(dp)), score(dp) < worked_line,
                        f"{dp['test_acc'] - plain['test_acc']:+.1%} test accuracy")
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
        "defences": [_defence(f"a budget of {smallest['budget']} queries per key",
                              f"fidelity {smallest['fidelity']:.0%}", smallest["fidelity"] < EXTRACTION_WORKED,
                              "none for the model; honest clients get fewer answers")],
    })

    seconds, queries = _cost(costs, "membership inference (probs)")
    auc = mia.get("probs", max(mia.values()))
    defences = []
    if "labels" in mia:
        defences.append(_defence("answer labels only", f"AUC {mia['labels']:.2f}", mia["labels"] < MIA_WORKED,
                                 "none for the model; clients lose the confidences"))
    defences.append(dp_defence(lambda r: r["mia_auc"], "AUC {:.2f}", MIA_WORKED))
    rows.append({
        "attack": "membership inference", "needs": "an API key and the candidate records",
        "seconds": seconds, "queries": queries, "worked": auc >= MIA_WORKED,
        "success": f"AUC {auc:.2f} (a coin: 0.50)", "defences": defences,
    })

    seconds, queries = _cost(costs, "GMI inversion (white box)", "GAN prior for inversion (once)")
    white, black = results["whitebox_inversion_top1"], results["blackbox_inversion_top1"]
    line = INVERSION_WORKED * chance_top1
    defences = [_defence("serve the model instead of publishing it", f"top-1 {black:.0%} through the API",
                         black < line, "none for the model")]
    defences.append(dp_defence(lambda r: r["gmi_top1"], "top-1 {:.0%}", line))
    rows.append({
        "attack": "model inversion (GMI)", "needs": "the weights and a GAN trained on public data of the same kind",
        "seconds": seconds, "queries": queries, "worked": white >= line,
        "success": f"judge top-1 {white:.0%} (chance {chance_top1:.0%})", "defences": defences,
    })
    return rows


def table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows flattened for ``viz.show_table``: one line per attack, its defences in one column."""
    return [{"attack": r["attack"], "needs": r["needs"], "seconds": round(r["seconds"], 1), "queries": r["queries"],
             "success": r["success"] + ("" if r["worked"] else " (not above its baseline)"),
             "defences measured": "; ".join(
                 f"{d['defence']}: {d['outcome']}, {'stopped it' if d['stopped'] else 'not stopped'}"
                 + (f" ({d[OWNER]})" if d[OWNER] else "") for d in r["defences"])}
            for r in rows]



def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} minutes"


def _names(items: Sequence[str]) -> str:
    return ", ".join(items)


def conclusion(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The answer to the talk's title, one sentence per attack and one answer, from ``credibility_rows``."""
    sentences = []
    for row in rows:
        name = row["attack"][0].upper() + row["attack"][1:]
        outcome = "; ".join(f"{d['defence']} gave {d['outcome']} and {'stopped' if d['stopped'] else 'did not stop'} it"
                            + (f" ({d[OWNER]})" if d[OWNER] else "") for d in row["defences"])
        sentences.append(
            f"{name} needed {row['needs']}; here it cost {_duration(row['seconds'])} of CPU"
            + (f" and {row['queries']} queries" if row["queries"] else "")
            + f" and reached {row['success']}, which "
            + ("counts as working" if row["worked"] else "does not beat its baseline clearly")
            + f". {outcome[0].upper() + outcome[1:]}.")
    worked = [r for r in rows if r["worked"]]
    stopped = [r["attack"] for r in worked if any(d["stopped"] for d in r["defences"])]
    standing = [r["attack"] for r in worked if not any(d["stopped"] for d in r["defences"])]
    failed = [r["attack"] for r in rows if not r["worked"]]
    answer = ("So: a credible threat when the three conditions meet (a model of sensitive data, the access each "
              "attack needs, and a cost worth the secret).")
    if worked:
        answer += f" In this run {_names([r['attack'] for r in worked])} worked at a cost a motivated attacker can pay."
    if stopped:
        answer += f" A measured defence stopped {_names(stopped)}."
    if standing:
        answer += (f" No defence measured here stopped {_names(standing)}: they only made it costlier or weaker, so "
                   "for those the remedy is to remove a condition (do not train on the secret, do not publish the "
                   "model, do not answer that many queries).")
    if failed:
        answer += (f" {_names(failed)[0].upper() + _names(failed)[1:]} did not clearly beat its baseline in this "
                   "run, so this run does not show it to be credible.")
    sentences.append(answer)
    return sentences
