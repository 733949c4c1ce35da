"""The trait-conditioned prior's helpers: one-hot traits, the sweep picture, the searched traits."""
import numpy as np
import pytest
import tensorflow as tf

from course_lib.attacks import inversion
from course_lib.data import datamons
from course_lib.models import gan, trait_prior

SIZES = trait_prior.trait_sizes()


def test_conditions_are_one_hot_traits_in_traits_order():
    codes = datamons.trait_codes(datamons.named_identities()[:2])
    told = trait_prior.conditions(codes)
    assert told.shape == (2, sum(SIZES)) and np.all(told.sum(axis=1) == len(datamons.TRAITS))
    np.testing.assert_array_equal(gan.group_argmax(told, SIZES), codes)


def test_a_sweep_draws_every_value_of_one_trait_on_the_same_latent_vectors():
    generator = gan.build_generator((16, 16, 3), width=4, n_conditions=sum(SIZES))
    design = datamons.named_identities()[0].code()
    images, values = trait_prior.trait_sweep(generator, design, "head", seed=0, examples=2)
    assert values == list(datamons.TRAITS["head"]) and images.shape == (len(values) * 2, 16, 16, 3)
    again, _ = trait_prior.trait_sweep(generator, design, "head", seed=0, examples=2)
    np.testing.assert_allclose(images, again)
    with pytest.raises(ValueError, match="unknown trait"):
        trait_prior.trait_sweep(generator, design, "tail", seed=0)


def test_the_searched_traits_are_those_the_kept_reconstructions_were_drawn_with():
    generator = gan.build_generator((16, 16, 3), width=4, n_conditions=sum(SIZES))
    critic = gan.build_critic((16, 16, 3), width=4)
    target = tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=(16, 16, 3)), tf.keras.layers.Flatten(),
                                  tf.keras.layers.Dense(3)])
    result = inversion.gmi_attack(generator, critic, target, [0, 1, 2], restarts=4, iterations=2, seed=0,
                                  condition_sizes=tuple(SIZES), progress=False)
    traits = trait_prior.searched_traits(result, seeds=2)
    assert traits.shape == (6, 7)
    kept = result.chosen(2)
    told = result.conditions[np.arange(3)[:, None], kept].reshape(6, -1)
    np.testing.assert_array_equal(trait_prior.conditions(traits), told)
    assert result.subset(slice(1, 3)).conditions.shape == (2, 4, sum(SIZES))


def test_the_comparison_names_the_gains_and_losses_and_reads_the_frechet_ratios():
    plain = {"top1": 0.9, "trait_recovery": 0.5, "by_trait": {"head": 0.4, "eyes": 0.5, "mouth": 0.3}}
    told = {"top1": 0.8, "trait_recovery": 0.6, "by_trait": {"head": 0.8, "eyes": 0.52, "mouth": 0.2}}
    text = trait_prior.read_comparison(plain, told, frechet_ratios=(2.0, 4.0))
    assert "60% of the traits against 50%" in text and "(more;" in text
    assert "gains on head (40% -> 80%)" in text and "eyes" not in text and "loses on mouth (30% -> 20%)" in text
    assert "further from" in text and "ratio 4.0 against 2.0" in text and "less real overall" in text
    same = trait_prior.read_comparison(plain, plain, frechet_ratios=(2.0, 1.5))
    assert "about as many" in same and "It gains" not in same and "did not give more" in same
    assert "Fréchet" not in trait_prior.read_comparison(plain, told)
