import json

import numpy as np
import pytest

from course_lib import report


def test_record_writes_plain_json_to_the_runs_file(tmp_path, monkeypatch):
    target = tmp_path / "runs" / "smoke" / "01_x.json"
    monkeypatch.setenv(report.RESULTS_ENV, str(target))
    report.record("acc", np.float32(0.25))
    report.record("curve", [{"eps": np.float64(0.1), "acc": 0.5}])
    report.record("per_target", {"small": np.int64(1), "ok": np.bool_(True)})
    data = json.loads(target.read_text())
    assert data == {"acc": 0.25, "curve": [{"eps": 0.1, "acc": 0.5}], "per_target": {"small": 1, "ok": True}}
    assert isinstance(data["per_target"]["ok"], bool)


def test_record_without_runner_keeps_results_in_memory(monkeypatch):
    monkeypatch.delenv(report.RESULTS_ENV, raising=False)
    assert report.record("only_here", (1, 2)) == [1, 2]
    assert report.results()["only_here"] == [1, 2]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), object(), {1, 2}])
def test_unrecordable_values_are_refused(bad):
    with pytest.raises((TypeError, ValueError), match="cannot record"):
        report.record("bad", bad)


def test_empty_name_is_refused():
    with pytest.raises(ValueError, match="non-empty string name"):
        report.record("", 1)


def test_compare_reports_values_beyond_the_tolerance_and_skips_times():
    a = {"acc": 0.8, "curve": [{"eps": 0.1, "acc": 0.5}], "psnr": {"t": 15.0}, "seconds": 3, "attack_seconds": 2,
         "ok": True, "name": "x"}
    b = {"acc": 0.8, "curve": [{"eps": 0.1, "acc": 0.6}], "psnr": {"t": 15.0 * (1 + 1e-8)}, "seconds": 9,
         "attack_seconds": 5, "ok": False, "name": "x", "extra": 1}
    diffs = report.compare(a, b)
    assert [d[0] for d in diffs] == ["curve[0].acc", "extra", "ok"]
    assert report.compare(a, dict(a)) == []


def test_compare_command_exits_0_when_runs_agree_and_1_when_they_differ(tmp_path):
    import subprocess
    import sys

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    report.write(a, {"acc": 0.5, "seconds": 1})
    report.write(b, {"acc": 0.5, "seconds": 9})
    same = subprocess.run([sys.executable, "-m", "course_lib", "compare", str(a), str(b)], capture_output=True, text=True)
    assert same.returncode == 0 and "0 differ" in same.stdout
    report.write(b, {"acc": 0.6})
    differ = subprocess.run([sys.executable, "-m", "course_lib", "compare", str(a), str(b)], capture_output=True,
                            text=True)
    assert differ.returncode == 1 and "acc: 0.5 vs 0.6" in differ.stdout
