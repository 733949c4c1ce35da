"""Notebook 02's figures draw what they are given and the calculator shows the accountant's epsilon."""
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


def test_epsilon_calculator_shows_the_accountant_value():
    box = figures.epsilon_calculator(1.3, 256, 15, 60000, 1e-5)
    shown = box.children[-1].value
    assert f"{accounting.epsilon(1.3, 256, 60000, epochs=15):.2f}" in shown
    box.children[0].value = 100.0  # out of the slider's range: clamped, still a valid epsilon
    assert "epsilon =" in box.children[-1].value


def test_epsilon_table_rows_are_tighter_with_pld():
    rows = figures.epsilon_table(1.1, 256, 60000, [1, 5])
    assert [r["epochs"] for r in rows] == [1, 5]
    assert all(r["epsilon_pld"] < r["epsilon_rdp"] for r in rows)
