"""Notebook 02's figures draw what they are given."""
import matplotlib

matplotlib.use("Agg")

from course_lib.dp import accounting, figures  # noqa: E402


def test_tradeoff_plot_has_one_point_per_private_run_and_a_baseline_line():
    rows = [
        {"noise_multiplier": 0.0, "epsilon_pld": None, "test_acc": 0.98, "seconds": 10.0, "activation": "relu"},
        {"noise_multiplier": 1.0, "epsilon_pld": 1.2, "test_acc": 0.93, "seconds": 30.0, "activation": "relu"},
        {"noise_multiplier": 0.7, "epsilon_pld": 2.1, "test_acc": 0.96, "seconds": 40.0, "activation": "tanh"},
    ]
    left, right = figures.plot_tradeoff(rows)
    assert sum(len(c.get_offsets()) for c in left.collections) == 2
    assert any(line.get_label() == "non-private" for line in left.get_lines())


def test_epsilon_table_rows_are_tighter_with_pld():
    rows = figures.epsilon_table(1.1, 256, 60000, [1, 5])
    assert [r["epochs"] for r in rows] == [1, 5]
    assert all(r["epsilon_pld"] < r["epsilon_rdp"] for r in rows)
