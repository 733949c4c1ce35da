"""Notebook 02's figures draw what they are given."""
import matplotlib

matplotlib.use("Agg")

from course_lib.dp import accounting, figures  # noqa: E402


def test_tradeoff_plot_has_one_point_per_private_run_and_a_baseline_line():
    common = {"optimizer": "adam", "delta": 1e-5, "sampling": "poisson"}
    rows = [
        {"noise_multiplier": 0.0, "epsilon_pld": None, "test_acc": 0.98, "seconds": 10.0, "activation": "relu",
         "epochs": 2, **common, "delta": None},
        {"noise_multiplier": 1.0, "epsilon_pld": 1.2, "test_acc": 0.93, "seconds": 30.0, "activation": "relu",
         "epochs": 3, **common},
        {"noise_multiplier": 0.7, "epsilon_pld": 2.1, "test_acc": 0.96, "seconds": 40.0, "activation": "tanh",
         "epochs": 4, **common},
    ]
    left, right = figures.plot_tradeoff(rows)
    assert sum(len(c.get_offsets()) for c in left.collections) == 2
    assert any(line.get_label() == "non-private, 2 ep" for line in left.get_lines())
    labels = {c.get_label() for c in left.collections}
    assert {"DP-Adam, relu", "DP-Adam, tanh"} <= labels, "the legend names the optimizer the runs used"
    assert "per image" in left.get_xlabel() and "poisson sampling" in left.get_xlabel()


def test_epsilon_table_rows_are_tighter_with_pld():
    rows = figures.epsilon_table(1.1, 256, 60000, [1, 5])
    assert [r["epochs"] for r in rows] == [1, 5]
    assert all(r["epsilon_pld"] < r["epsilon_rdp"] for r in rows)
