"""Each widget is a front-end over a course_lib function: it builds headless and shows that function's result."""
import html

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from course_lib import widgets  # noqa: E402
from course_lib.attacks.inversion import InversionResult  # noqa: E402
from course_lib.data import datamons  # noqa: E402
from course_lib.dp import accounting  # noqa: E402
from course_lib.models import targets  # noqa: E402


def test_epsilon_calculator_shows_the_accountant_value():
    box = widgets.epsilon_calculator(1.3, 256, 15, 60000, 1e-5)
    shown = box.children[-1].value
    assert f"{accounting.epsilon(1.3, 256, 60000, epochs=15):.2f}" in shown
    box.children[0].value = 100.0  # out of the slider's range: clamped, still a valid epsilon
    assert "epsilon =" in box.children[-1].value


def test_epsilon_calculator_warns_with_the_statement_sentence_when_delta_reaches_1_over_n():
    box = widgets.epsilon_calculator(1.3, 256, 1, 1000, 1e-3)  # delta = 1/n
    warning = accounting.delta_warning(1e-3, 1000)
    assert warning.startswith("delta >= 1/n:") and html.escape(warning) in box.children[-1].value
    box.children[4].value = -5.0  # log10 delta: 1e-5 < 1/n, no warning
    assert "epsilon =" in box.children[-1].value and "1/n" not in box.children[-1].value


def test_identity_report_shows_the_kept_restart_and_the_traits_read():
    tf.keras.utils.set_random_seed(0)
    sizes = {t: len(v) for t, v in datamons.TRAITS.items()}
    trait_model = targets.trait_classifier((8, 8, 3), sizes, width=2)
    n_ids, restarts = 3, 4
    images = np.random.default_rng(0).uniform(size=(n_ids, restarts, 8, 8, 3)).astype(np.float32)
    prob = np.zeros((n_ids, restarts))
    prob[:, 2] = 1.0  # the target prefers restart 2 of every identity
    result = InversionResult(labels=np.arange(n_ids), images=images, target_prob=prob)
    traits = np.array([i.code() for i in datamons.named_identities()[:n_ids]])
    private = np.zeros((n_ids, 8, 8, 3), np.float32)
    shown, titles, rows = widgets.identity_report(1, names=["a", "b", "c"], private_images=private,
                                                  results={"small": result}, seeds=1, trait_model=trait_model,
                                                  identity_traits=traits)
    assert titles == ["private", "kept vs small"]
    np.testing.assert_array_equal(shown[1], images[1, 2])
    assert [r["trait"] for r in rows] == list(datamons.TRAITS)
    assert all(r["true"] == datamons.TRAITS[r["trait"]][traits[1, j]] for j, r in enumerate(rows))
    with pytest.raises(ValueError, match="identity index"):
        widgets.identity_report(3, names=["a", "b", "c"], private_images=private, results={"small": result},
                                seeds=1, trait_model=trait_model, identity_traits=traits)


def test_evasion_and_membership_widgets_build_headless():
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=(28, 28)), tf.keras.layers.Flatten(),
                                 tf.keras.layers.Dense(10)])
    x = np.random.default_rng(0).uniform(size=(3, 28, 28)).astype(np.float32)
    explorer = widgets.evasion_explorer(model, x, np.array([1, 2, 3]), pgd_steps=2)
    assert [c.description for c in explorer.children[:2]] == ["eps", "attack"]
    policy = widgets.membership_policy(model, (x, np.array([1, 2, 3])), (x, np.array([1, 2, 3])))
    assert any(getattr(c, "description", "") == "run the attack" for c in policy.children)
