"""Backdoor poisoning: exactly the chosen examples change, the trigger lands where it should, the backdoor works."""
import numpy as np
import pytest
from course_lib.attacks import poisoning
from course_lib.models import classifiers


def _dataset(n=300, size=16, seed=0):
    """Three classes a tiny CNN separates easily: dark, medium and bright noisy images."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = np.clip(0.2 + 0.3 * labels[:, None, None, None] + rng.normal(0, 0.08, (n, size, size, 3)), 0, 1)
    return images.astype(np.float32), labels.astype(np.int64)


def test_checker_trigger_is_a_checkerboard():
    trigger = poisoning.checker_trigger(4, 3)
    assert trigger.shape == (4, 4, 3)
    assert set(np.unique(trigger)) == {0.0, 1.0}
    assert trigger[0, 0, 0] != trigger[0, 1, 0] and trigger[0, 0, 0] == trigger[1, 1, 0]


def test_stamp_changes_only_the_bottom_right_corner_and_leaves_the_input_alone():
    images = np.full((2, 10, 10, 3), 0.5, np.float32)
    trigger = poisoning.checker_trigger(3)
    out = poisoning.stamp(images, trigger, margin=1)
    np.testing.assert_array_equal(out[:, 6:9, 6:9], np.broadcast_to(trigger, (2, 3, 3, 3)))
    changed = np.any(out != 0.5, axis=-1)
    assert not changed[:, :6].any() and not changed[:, :, :6].any() and not changed[:, 9].any()
    assert np.all(images == 0.5)


def test_poison_changes_exactly_the_chosen_fraction():
    images, labels = _dataset()
    trigger = poisoning.checker_trigger(4)
    result = poisoning.poison(images, labels, fraction=0.1, target_class=0, trigger=trigger, seed=1)
    assert len(result.poisoned) == 30
    assert np.all(labels[result.poisoned] != 0) and np.all(result.labels[result.poisoned] == 0)
    changed_labels = np.flatnonzero(result.labels != labels)
    np.testing.assert_array_equal(changed_labels, result.poisoned)
    changed_images = np.flatnonzero(np.any(result.images != images, axis=(1, 2, 3)))
    np.testing.assert_array_equal(changed_images, result.poisoned)
    again = poisoning.poison(images, labels, fraction=0.1, target_class=0, trigger=trigger, seed=1)
    np.testing.assert_array_equal(again.poisoned, result.poisoned)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 0.001])
def test_poison_refuses_impossible_fractions(fraction):
    images, labels = _dataset(n=100)
    with pytest.raises(ValueError, match="fraction"):
        poisoning.poison(images, labels, fraction=fraction, target_class=0, trigger=poisoning.checker_trigger(2))


def test_poison_refuses_more_poison_than_candidates_and_wrong_channels():
    images, labels = _dataset(n=20)
    labels[:] = 0
    labels[:2] = 1
    with pytest.raises(ValueError, match="only 2"):
        poisoning.poison(images, labels, fraction=0.5, target_class=0, trigger=poisoning.checker_trigger(2))
    with pytest.raises(ValueError, match="channels"):
        poisoning.stamp(images, poisoning.checker_trigger(2, channels=1))


def test_backdoor_works_on_a_tiny_model_and_not_on_the_clean_one():
    (x_train, y_train), (x_test, y_test) = _dataset(240, seed=0), _dataset(90, seed=1)
    baseline = classifiers.datamons_cnn((16, 16, 3), 3, width=8)
    classifiers.train_classifier(
        baseline, x_train, y_train, epochs=8, batch_size=32, learning_rate=3e-3, seed=0, progress=False
    )
    result = poisoning.backdoor_experiment(
        (x_train, y_train), (x_test, y_test), baseline, fraction=0.2, target_class=0, trigger_size=4,
        epochs=8, batch_size=32, learning_rate=3e-3, width=8, seed=0, progress=False,
    )
    assert result.attack_success > 0.8
    assert result.attack_success > result.attack_success_baseline + 0.5
    assert result.clean_acc > 0.9 and result.clean_acc_baseline > 0.9
    assert result.access["weights"] is False and result.access["box"] == "training data"
