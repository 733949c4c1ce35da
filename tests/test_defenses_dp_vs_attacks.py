"""DP against the attacks: members and non-members are disjoint and balanced, the private head alone is trained
(the public features stay frozen), and every noise level yields one row of the recorded table."""
import numpy as np
import pytest
import tensorflow as tf

from course_lib import config
from course_lib.defenses import dp_vs_attacks
from course_lib.models import gan, targets

SHAPE = (8, 8, 3)


def coloured(n_per_class: int, n_classes: int = 3, seed: int = 0):
    """Images whose class is their dominant colour channel, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = rng.uniform(0, 0.3, size=(len(y), *SHAPE)).astype(np.float32)
    x[np.arange(len(y)), :, :, y] += 0.6
    return x, y.astype(np.int64)


def test_member_split_is_disjoint_balanced_and_refuses_too_few():
    x = np.arange(30, dtype=np.float32)[:, None]
    y = np.repeat([0, 1, 2], 10)
    (mx, my), (ox, oy) = dp_vs_attacks.member_split(x, y, 4)
    assert len(mx) == len(ox) == 12
    assert not set(mx.ravel()) & set(ox.ravel())
    assert np.bincount(my).tolist() == np.bincount(oy).tolist() == [4, 4, 4]
    with pytest.raises(ValueError, match="needs 2 x 6"):
        dp_vs_attacks.member_split(x, y, 6)


def test_each_noise_level_gives_a_row_and_the_public_features_stay_frozen():
    tf.keras.utils.set_random_seed(0)
    trait_model = targets.trait_classifier(SHAPE, {"body": 2, "colour": 3}, width=4)
    features = dp_vs_attacks.public_features(trait_model)
    flatten = [layer for layer in trait_model.layers if isinstance(layer, tf.keras.layers.Flatten)][-1]
    assert features.output_shape == flatten.output_shape  # the convolutions' map, not the 128-number trait layer
    before = [w.copy() for w in features.get_weights()]
    x, y = coloured(12)
    members, non_members = dp_vs_attacks.member_split(x, y, 6)
    rows = dp_vs_attacks.dp_vs_attacks(
        members, non_members, coloured(4, seed=1), noise_multipliers=(0.0, 2.0), features=features,
        generator=gan.build_generator(SHAPE, z_dim=8, width=4), critic=gan.build_critic(SHAPE, width=4),
        evaluation=targets.evaluation_model(SHAPE, 3, width=4), gmi=dp_vs_attacks.GmiSettings(1, 2), hidden=8,
        epochs=2, batch_size=6, learning_rate=1e-2, seed=0, progress=False)
    assert [r.noise_multiplier for r in rows] == [0.0, 2.0]
    assert rows[0].epsilon is None and rows[1].epsilon is not None and 0 < rows[1].epsilon < 100
    for row in rows:
        record = row.record()
        assert {"epsilon", "test_acc", "mia_auc", "gmi_top1"} <= set(record)
        assert 0 <= record["mia_auc"] <= 1 and 0 <= record["gmi_top1"] <= 1 and 0 <= record["test_acc"] <= 1
        assert row.model.output_shape == (None, 3)
    for old, new in zip(before, features.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_bad_settings_are_refused():
    with pytest.raises(config.ConfigError):
        dp_vs_attacks.GmiSettings(restarts=0, iterations=5)
    with pytest.raises(ValueError, match="trait_"):
        dp_vs_attacks.public_features(tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=(3,)),
                                                           tf.keras.layers.Dense(2)]))


ROWS = [{"epsilon": None, "test_acc": 0.98, "mia_auc": 0.62, "gmi_top1": 0.87},
        {"epsilon": 13.3, "test_acc": 0.92, "mia_auc": 0.59, "gmi_top1": 0.87},
        {"epsilon": 4.5, "test_acc": 0.75, "mia_auc": 0.56, "gmi_top1": 0.73},
        {"epsilon": 1.9, "test_acc": 0.50, "mia_auc": 0.54, "gmi_top1": 0.33}]


def test_verdict_reads_the_measurements():
    lines = dp_vs_attacks.verdict(ROWS, chance_top1=1 / 15)
    assert "AUC 0.62 without DP" in lines[0] and "0.54 at epsilon 1.9" in lines[0]
    assert "removed 67%" in lines[0]
    assert "down to epsilon 4.5" in lines[1] and "73%" in lines[1] and "10.9 times chance" in lines[1]
    assert "claim holds" in lines[1]
    assert "epsilon 1.9" in lines[2] and "50%" in lines[2]


def test_verdict_says_when_dp_did_stop_inversion_or_there_was_no_leak():
    rows = [dict(r) for r in ROWS]
    rows[0]["mia_auc"] = 0.51
    for r in rows[1:3]:
        r["gmi_top1"] = 0.1
    lines = dp_vs_attacks.verdict(rows, chance_top1=1 / 15)
    assert "no measurable membership" in lines[0]
    assert "did blunt the inversion" in lines[1]
    halved = [dict(r, gmi_top1=0.2) if r["epsilon"] == 4.5 else r for r in ROWS]  # 3x chance, less than half of 87%
    reading = dp_vs_attacks.verdict(halved, chance_top1=1 / 15)[1]
    assert "cut the inversion from 87% to 20%" in reading and "claim holds" not in reading
    useless = [dict(r, test_acc=0.3) if r["epsilon"] else r for r in ROWS]
    assert "cannot test" in dp_vs_attacks.verdict(useless, chance_top1=1 / 15)[1]
    with pytest.raises(ValueError, match="non-private row"):
        dp_vs_attacks.verdict(ROWS[1:], chance_top1=1 / 15)
    with pytest.raises(ValueError, match="chance_top1"):
        dp_vs_attacks.verdict(ROWS, chance_top1=1.5)


def test_trait_trunk_cuts_at_the_shared_layer_or_the_convolutions():
    trait_model = targets.trait_classifier(SHAPE, {"body": 2, "colour": 3}, width=4)
    shared = targets.trait_trunk(trait_model, at="shared")
    convolutions = targets.trait_trunk(trait_model, at="convolutions")
    heads = [layer for layer in trait_model.layers if layer.name.startswith("trait_")]
    flatten = [layer for layer in trait_model.layers if isinstance(layer, tf.keras.layers.Flatten)][-1]
    assert shared.outputs[0] is heads[0].input and convolutions.outputs[0] is flatten.output
    with pytest.raises(ValueError, match="'shared' or 'convolutions'"):
        targets.trait_trunk(trait_model, at="heads")
