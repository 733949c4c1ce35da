"""The credibility verdict is built from the run's recorded results and says what they say."""
import pytest

from course_lib.defenses import verdict

RESULTS = {
    "attack_costs": [
        {"attack": "model extraction (probs)", "seconds": 30.0, "queries": 1000, "needs": "", "compute": ""},
        {"attack": "membership inference (probs)", "seconds": 6.0, "queries": 400, "needs": "", "compute": ""},
        {"attack": "GMI inversion (white box)", "seconds": 60.0, "queries": 0, "needs": "", "compute": ""},
        {"attack": "GAN prior for inversion (once)", "seconds": 600.0, "queries": 0, "needs": "", "compute": ""},
    ],
    "extraction_vs_budget": [{"budget": 10, "output": "probs", "fidelity": 0.3},
                             {"budget": 1000, "output": "probs", "fidelity": 0.93},
                             {"budget": 1000, "output": "labels", "fidelity": 0.9}],
    "mia_vs_output": [{"output": "probs", "auc": 0.81}, {"output": "labels", "auc": 0.6}],
    "dp_vs_attacks": [{"epsilon": None, "test_acc": 0.95, "mia_auc": 0.7, "gmi_top1": 0.8},
                      {"epsilon": 8.0, "test_acc": 0.9, "mia_auc": 0.55, "gmi_top1": 0.7},
                      {"epsilon": 1.0, "test_acc": 0.5, "mia_auc": 0.5, "gmi_top1": 0.1}],
    "whitebox_inversion_top1": 0.8,
    "blackbox_inversion_top1": 0.4,
}


def test_rows_read_the_measurements():
    rows = {r["attack"]: r for r in verdict.credibility_rows(RESULTS, chance_top1=1 / 15)}
    assert rows["model extraction"]["success"] == "fidelity 93% at 1000 queries"
    budget = rows["model extraction"]["defences"][0]
    assert (budget["defence"], budget["outcome"], budget["stopped"]) == ("a budget of 10 queries per key",
                                                                          "fidelity 30%", True)
    labels, dp = rows["membership inference"]["defences"]
    # the most private DP row that stayed useful (70 %) is epsilon 8, not the useless epsilon 1
    assert (dp["defence"], dp["outcome"], dp["stopped"]) == ("DP at epsilon 8.0", "AUC 0.55", True)
    assert dp["owner's cost"] == "-5.0% test accuracy"
    assert (labels["outcome"], labels["stopped"]) == ("AUC 0.60", False)
    serving, dp = rows["model inversion (GMI)"]["defences"]
    assert serving["outcome"] == "top-1 40% through the API" and not serving["stopped"] and not dp["stopped"]
    assert rows["model inversion (GMI)"]["seconds"] == 660.0
    assert all(row["worked"] for row in rows.values())
    flat = verdict.table(list(rows.values()))
    assert "DP at epsilon 8.0: AUC 0.55, stopped it (-5.0% test accuracy)" in flat[1]["defences measured"]


def test_conclusion_says_what_was_stopped_and_what_was_not():
    rows = verdict.credibility_rows(RESULTS, chance_top1=1 / 15)
    sentences = verdict.conclusion(rows)
    assert len(sentences) == len(rows) + 1
    assert sentences[2].startswith("Model inversion (GMI) needed") and "11 minutes" in sentences[2]
    answer = sentences[-1]
    assert "A measured defence stopped model extraction, membership inference." in answer
    assert "No defence measured here stopped model inversion (GMI)" in answer


def test_an_attack_at_its_baseline_is_not_called_credible():
    results = dict(RESULTS, whitebox_inversion_top1=0.07, blackbox_inversion_top1=0.07)
    answer = verdict.conclusion(verdict.credibility_rows(results, chance_top1=1 / 15))[-1]
    assert "Model inversion (GMI) did not clearly beat its baseline" in answer
    assert "In this run model extraction, membership inference worked" in answer


def test_missing_results_are_named():
    with pytest.raises(ValueError, match="dp_vs_attacks"):
        verdict.credibility_rows({k: v for k, v in RESULTS.items() if k != "dp_vs_attacks"}, chance_top1=0.1)
