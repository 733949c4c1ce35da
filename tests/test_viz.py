"""Shared plots and tables: right number of panels, clear errors, tables that say what each attack needed."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib import viz  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("shape", [(5, 8, 8), (5, 8, 8, 1), (5, 8, 8, 3)])
def test_image_grid_draws_one_panel_per_image(shape):
    axes = viz.image_grid(np.random.default_rng(0).uniform(0, 1, shape), titles=list("abcde"), ncols=2)
    assert len(axes) == 5
    assert [a.get_title() for a in axes] == list("abcde")
    assert axes[0].get_images()[0].get_array().shape[:2] == (8, 8)


def test_image_grid_inside_an_existing_axes():
    fig, (left, right) = plt.subplots(1, 2)
    axes = viz.image_grid(np.zeros((4, 6, 6)), ax=right, ncols=2)
    assert len(axes) == 4 and right not in fig.axes and left in fig.axes


def test_image_grid_refuses_bad_input():
    with pytest.raises(ValueError, match="titles"):
        viz.image_grid(np.zeros((3, 4, 4)), titles=["a"])
    with pytest.raises(ValueError, match="shape"):
        viz.image_grid(np.zeros((3, 4, 4, 2)))
    with pytest.raises(ValueError, match="at least one"):
        viz.image_grid(np.zeros((0, 4, 4)))


def test_plot_curves_one_line_per_curve_and_missing_keys_refused():
    curves = {"fgsm": [{"eps": 0, "acc": 1.0}, {"eps": 0.1, "acc": 0.5}], "pgd": [{"eps": 0, "acc": 1.0}]}
    ax = viz.plot_curves(curves, "eps", "acc", hline=0.1)
    assert [line.get_label() for line in ax.get_lines()][:2] == ["fgsm", "pgd"]
    with pytest.raises(ValueError, match="without the key"):
        viz.plot_curves({"x": [{"eps": 0}]}, "eps", "acc")


def test_plot_roc_has_chance_line():
    ax = viz.plot_roc({"attack": (np.array([0, 0.5, 1]), np.array([0, 0.8, 1]))})
    assert [line.get_label() for line in ax.get_lines()] == ["chance", "attack"]


def test_tables_render_values_readably():
    rows = [{"attack": "FGSM", "weights": True, "queries": 12000, "acc": 0.12345}, {"attack": "MIA", "weights": False}]
    text = viz.show_table(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["attack", "weights", "queries", "acc"]
    assert lines[2].split() == ["FGSM", "yes", "12,000", "0.123"]
    assert lines[3].split() == ["MIA", "no"]
    assert "<td>yes</td>" in viz.table_html(rows)
    with pytest.raises(ValueError, match="at least one row"):
        viz.table_text([])


def test_access_rows_classify_white_and_black_box():
    rows = viz.access_rows(
        {
            "PGD": {"architecture": True, "weights": True, "gradients": True, "queries": 10},
            "extraction": {"queries": 1000, "data": "public digits"},
            "backdoor": {"data": "training set", "box": "training data"},
        }
    )
    assert [r["box"] for r in rows] == ["white", "black", "training data"]
    assert rows[1]["weights"] is False and list(rows[0])[:2] == ["attack", "architecture"]
    with pytest.raises(ValueError, match="unknown access"):
        viz.access_rows({"x": {"telepathy": True}})


def test_trait_marks_tick_hits_and_cross_misses():
    text = viz.trait_marks([True, False, True], ["body", "mouth", "accessory"], per_line=2)
    assert text == "bod✓ mth✗\nacc✓"
    with pytest.raises(ValueError, match="2 trait hits for 3"):
        viz.trait_marks([True, False], ["body", "mouth", "eyes"])


def test_identity_grid_shows_every_identity_with_its_verdict():
    rng = np.random.default_rng(0)
    n = 7
    real, rebuilt = rng.uniform(0, 1, (n, 8, 8, 3)), rng.uniform(0, 1, (n, 8, 8, 3))
    predicted = [0, 1, 2, 0, 4, 5, 6]  # identity 3 mistaken for identity 0
    hits = np.ones((n, 2), bool)
    hits[3, 1] = False
    fig = viz.identity_grid([("private", real), ("rebuilt", rebuilt)], list("ABCDEFG"), predicted, hits,
                            ["body", "mouth"], per_row=3)
    assert len(fig.axes) == 2 * n
    verdicts = [a.get_xlabel() for a in fig.axes if a.get_xlabel()]
    assert len(verdicts) == n
    assert verdicts[3] == "judge: A ✗\nbod✓ mth✗" and verdicts[0].startswith("judge: A ✓")


def test_identity_grid_refuses_mismatched_columns():
    with pytest.raises(ValueError, match="column 'rebuilt' has 2 images for 3 identities"):
        viz.identity_grid([("private", np.zeros((3, 4, 4))), ("rebuilt", np.zeros((2, 4, 4)))], list("abc"),
                          [0, 1, 2])
    with pytest.raises(ValueError, match="trait_hits"):
        viz.identity_grid([("x", np.zeros((2, 4, 4)))], list("ab"), [0, 1], np.ones((2, 3), bool), ["body"])
