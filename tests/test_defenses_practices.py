"""The good-practices table cites this run's numbers, one row per practice of the talk."""
import pytest

from course_lib.defenses.practices import good_practices

EXTRACTION = [{"budget": 30, "output": "probs", "fidelity": 0.6}, {"budget": 1000, "output": "probs", "fidelity": 0.95},
              {"budget": 30, "output": "labels", "fidelity": 0.5}, {"budget": 1000, "output": "labels", "fidelity": 0.9}]
MIA = [{"output": "probs", "auc": 0.77}, {"output": "rounded", "auc": 0.69}, {"output": "labels", "auc": 0.58}]
DP = [{"epsilon": None, "test_acc": 0.99, "mia_auc": 0.51, "gmi_top1": 0.8},
      {"epsilon": 8.8, "test_acc": 0.98, "mia_auc": 0.5, "gmi_top1": 0.73},
      {"epsilon": 1.3, "test_acc": 0.88, "mia_auc": 0.49, "gmi_top1": 0.67}]


def test_every_practice_cites_its_measurement():
    rows = good_practices(extraction_points=EXTRACTION, mia_points=MIA, dp_rows=DP, whitebox_top1=0.67,
                          blackbox_top1=0.27, blackbox_queries=976, chance_top1=1 / 15)
    assert len(rows) == 5 and all(set(r) == {"practice", "measured here", "what it costs"} for r in rows)
    text = {r["practice"].split()[0]: r["measured here"] + " | " + r["what it costs"] for r in rows}
    assert "60 %" in text["limit"] and "95 %" in text["limit"]
    assert "0.77" in text["return"] and "0.58" in text["return"] and "90 %" in text["return"]
    assert "67 %" in text["do"] and "27 %" in text["do"] and "976" in text["do"]
    assert "epsilon 1.3" in text["train"] and "80 % -> 67 %" in text["train"] and "99 % -> 88 %" in text["train"]


def test_the_query_limit_practice_cites_the_membership_budget_curve_when_given():
    budget_points = [{"budget": 500, "output": "probs", "auc": 0.81}, {"budget": 30, "output": "probs", "auc": 0.52},
                     {"budget": 500, "output": "labels", "auc": 0.6}]
    rows = good_practices(extraction_points=EXTRACTION, mia_points=MIA, dp_rows=DP, whitebox_top1=0.67,
                          blackbox_top1=0.27, blackbox_queries=976, chance_top1=1 / 15,
                          mia_budget_points=budget_points)
    limit = rows[0]["measured here"]
    assert "0.52 with 30 queries, 0.81 with 500" in limit and "0.60" not in limit


def test_missing_results_are_refused():
    with pytest.raises(ValueError, match="needs the extraction"):
        good_practices(extraction_points=[], mia_points=MIA, dp_rows=DP, whitebox_top1=0.5, blackbox_top1=0.1,
                       blackbox_queries=10, chance_top1=0.1)
