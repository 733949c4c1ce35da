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
    assert "10 queries per key: fidelity 30%" in rows["model extraction"]["best defence measured"]
    assert rows["membership inference"]["success"].startswith("AUC 0.81")
    # the most private DP row that stayed useful (70 %) is epsilon 8, not the useless epsilon 1
    assert "epsilon 8.0: AUC 0.55" in rows["membership inference"]["best defence measured"]
    assert rows["membership inference"]["owner's accuracy cost"] == "DP: -5.0% test accuracy; labels only: none"
    assert all(row["worked"] for row in rows.values())
    assert rows["model inversion (GMI)"]["seconds"] == 660.0
    assert "top-1 40% through the API" in rows["model inversion (GMI)"]["best defence measured"]


def test_conclusion_has_one_sentence_per_attack_and_the_answer():
    rows = verdict.credibility_rows(RESULTS, chance_top1=1 / 15)
    sentences = verdict.conclusion(rows)
    assert len(sentences) == len(rows) + 1
    assert "11 minutes" in sentences[2] and sentences[-1].startswith("So: a credible threat")
    assert "Model inversion (GMI) needed" in sentences[2]


def test_an_attack_at_its_baseline_is_not_called_credible():
    results = dict(RESULTS, whitebox_inversion_top1=0.07, blackbox_inversion_top1=0.07)
    rows = verdict.credibility_rows(results, chance_top1=1 / 15)
    answer = verdict.conclusion(rows)[-1]
    assert "Model inversion (GMI) did not clearly beat its baseline" in answer
    assert "Here model extraction, membership inference worked" in answer


def test_missing_results_are_named():
    with pytest.raises(ValueError, match="dp_vs_attacks"):
        verdict.credibility_rows({k: v for k, v in RESULTS.items() if k != "dp_vs_attacks"}, chance_top1=0.1)
