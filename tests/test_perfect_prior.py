"""The perfect-prior search: every Datamon design scored by a classifier, the ceiling of confidence-based inversion."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib.attacks import perfect_prior
from course_lib.data import datamons

NAMED = datamons.named_identities()
TRAITS = list(datamons.TRAITS)
TRUE = datamons.trait_codes(NAMED)


class _ReadsTraits:
    """A stand-in classifier that sees each portrait's design (through a renderer that draws nothing) and scores
    every named Datamon by minus the number of ``reads`` traits it differs in: it can never tell the other traits."""

    def __init__(self, monkeypatch, reads: list[str]):
        self.keep = [TRAITS.index(t) for t in reads]
        self.traits = None
        self.calls = []

        def drawn(identities, per_identity, *, size=64, seed=0):
            codes = np.repeat(datamons.trait_codes(identities), per_identity, axis=0)
            self.traits = codes
            self.calls.append(seed)
            return datamons.Portraits(images=np.zeros((len(codes), 2, 2, 3), np.float32),
                                      labels=np.repeat(np.arange(len(identities)), per_identity), traits=codes,
                                      names=[i.name for i in identities])

        monkeypatch.setattr(datamons, "render", drawn)

    def predict(self, images, batch_size=256, verbose=0):
        assert len(images) == len(self.traits)
        return -datamons.trait_distances(self.traits[:, self.keep], TRUE[:, self.keep]).astype(np.float32)


def test_every_design_once_and_samples_are_seeded_sorted_subsets():
    every = perfect_prior.all_designs()
    assert every.shape == (int(np.prod([len(v) for v in datamons.TRAITS.values()])), len(TRAITS)) == (76800, 7)
    assert len(np.unique(every, axis=0)) == len(every)
    assert all((every == code).all(axis=1).any() for code in TRUE)
    sample = perfect_prior.designs(500, seed=3)
    assert len(np.unique(sample, axis=0)) == 500
    assert np.array_equal(sample, perfect_prior.designs(500, seed=3))
    assert not np.array_equal(sample, perfect_prior.designs(500, seed=4))
    assert np.array_equal(perfect_prior.designs(None), every)
    for bad in (0, "all", True):
        with pytest.raises(ValueError, match="positive number of designs"):
            perfect_prior.designs(bad)


def test_designs_round_trip_through_identities():
    codes = perfect_prior.designs(50, seed=1)
    assert np.array_equal(datamons.trait_codes(datamons.identities_of_codes(codes)), codes)
    with pytest.raises(ValueError, match=r"\(n, 7\)"):
        datamons.identities_of_codes(codes[:, :6])


def test_a_margin_is_the_logit_minus_the_best_other_and_a_tie_names_nobody():
    margins = perfect_prior.logit_margins(np.array([[3.0, 1.0, 2.0], [2.0, 2.0, 0.0]]))
    assert np.allclose(margins, [[1.0, -2.0, -1.0], [0.0, 0.0, -2.0]])


def test_a_classifier_blind_to_the_mouth_leaves_the_mouth_at_its_chance_share(monkeypatch):
    model = _ReadsTraits(monkeypatch, reads=[t for t in TRAITS if t != "mouth"])
    codes = perfect_prior.all_designs()
    scores = perfect_prior.score_designs(model, codes, renders=2, chunk=20000, progress=False)
    assert scores.shape == (len(codes), len(NAMED))
    best = perfect_prior.refine(model, codes, scores, finalists=4, renders=2)
    found = perfect_prior.search(scores, codes, best, TRUE)
    # each name's best designs come in fours that differ only in the mouth, which the reader cannot see (the reader
    # of every trait: 0.96, below); the 16th may split a four
    assert found["top_share_by_trait"]["mouth"] == pytest.approx(1 / len(datamons.TRAITS["mouth"]), abs=0.02)
    assert all(found["top_share_by_trait"][t] > 1 / len(datamons.TRAITS[t]) + 0.3 for t in TRAITS if t != "mouth")
    assert np.allclose(scores, perfect_prior.trait_reader_margins(codes, TRUE, [t for t in TRAITS if t != "mouth"]))
    rows = [int(np.flatnonzero((codes == code).all(axis=1))[0]) for code in TRUE]
    assert (scores[rows, np.arange(len(NAMED))] > 0).all()  # each Datamon's own design is named after it


def test_a_classifier_that_reads_only_the_colour_constrains_nothing_else(monkeypatch):
    model = _ReadsTraits(monkeypatch, reads=["colour"])
    codes = perfect_prior.all_designs()
    scores = perfect_prior.score_designs(model, codes, progress=False)
    colours = [i.traits["colour"] for i in NAMED]
    alone = np.array([colours.count(c) == 1 for c in colours])  # a colour two Datamons share names neither (a tie)
    assert np.allclose((scores > 0).mean(axis=0), np.where(alone, 1 / len(datamons.TRAITS["colour"]), 0.0))
    found = perfect_prior.search(scores[:, alone], codes, TRUE[alone], TRUE[alone], top=len(codes) // 8)
    assert found["top_share_by_trait"]["colour"] == 1.0  # its top eighth: exactly the designs of its colour
    for trait in TRAITS:
        if trait != "colour":
            assert found["top_share_by_trait"][trait] == pytest.approx(1 / len(datamons.TRAITS[trait])), trait
    assert found["trait_recovery"] == 1.0 and found["hits"].all()  # best_designs given: the true ones


def test_the_ideal_reader_of_every_trait_names_each_datamon_after_its_own_design_and_reads_every_trait():
    codes = perfect_prior.all_designs()
    margins = perfect_prior.trait_reader_margins(codes, TRUE)
    found = perfect_prior.search(margins, codes, codes[margins.argmax(axis=0)], TRUE)
    rows = [int(np.flatnonzero((codes == code).all(axis=1))[0]) for code in TRUE]
    assert (margins[rows, np.arange(len(NAMED))] >= 2).all()  # named Datamons differ in two traits or more
    assert all(found["top_share_by_trait"][t] > 1 / len(datamons.TRAITS[t]) + 0.3 for t in TRAITS)
    assert found["trait_recovery"] > 0.8


def test_refine_keeps_the_best_finalist_on_fresh_portraits(monkeypatch):
    model = _ReadsTraits(monkeypatch, reads=TRAITS)
    codes = perfect_prior.designs(3000, seed=0)
    codes = np.concatenate([codes, TRUE])
    misleading = np.zeros((len(codes), len(NAMED)), np.float32)
    misleading[:len(codes) - len(TRUE)] = 1.0  # the first round prefers every design but the true ones
    first = perfect_prior.refine(model, codes, misleading, finalists=1, renders=1)
    assert np.array_equal(first, np.repeat(codes[:1], len(NAMED), axis=0))  # one finalist: the first round's pick
    refined = perfect_prior.refine(model, codes, misleading, finalists=len(codes), renders=1)
    fresh_best = codes[perfect_prior.trait_reader_margins(codes, TRUE).argmax(axis=0)]
    assert np.array_equal(refined, fresh_best)  # all finalists: the fresh scores alone decide
    assert model.calls[-1] != 0  # fresh portraits: not the first round's seed
    with pytest.raises(ValueError, match="at least 1"):
        perfect_prior.refine(model, codes, misleading, finalists=0)


def test_scores_are_reproducible_with_a_real_classifier_and_renderer():
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Input((16, 16, 3)), tf.keras.layers.Flatten(),
                                 tf.keras.layers.Dense(len(NAMED))])
    codes = perfect_prior.designs(40, seed=2)
    first = perfect_prior.score_designs(model, codes, renders=3, size=16, seed=5, chunk=16, progress=False)
    again = perfect_prior.score_designs(model, codes, renders=3, size=16, seed=5, chunk=16, progress=False)
    other = perfect_prior.score_designs(model, codes, renders=3, size=16, seed=6, chunk=16, progress=False)
    assert first.shape == (40, len(NAMED)) and np.array_equal(first, again) and not np.array_equal(first, other)
    single = perfect_prior.score_designs(model, codes, renders=1, size=16, seed=5, progress=False)
    assert ((single > 0).sum(axis=1) == 1).all()  # one portrait: exactly the class it is named has a positive margin
    with pytest.raises(ValueError, match="at least 1"):
        perfect_prior.score_designs(model, codes, renders=0)


def test_the_sentence_reads_the_ceiling_and_names_the_traits_left_at_chance():
    found = {"trait_recovery": 0.5, "recovery_by_trait": {"colour": 1.0, "mouth": 0.0},
             "top_share_by_trait": {"colour": 0.9, "mouth": 0.26}, "top": 16}
    reader = {"trait_recovery": 0.9, "recovery_by_trait": {"colour": 1.0, "mouth": 0.8}}
    chance = {"colour": 0.125, "mouth": 0.25}
    text = perfect_prior.read_ceiling(found, reader, {"colour": 0.8, "mouth": 0.2}, chance)
    assert "recovers 50% of the traits, against 50% for GMI and 90% for a target that read every trait" in text
    assert "mouth 0% (GMI 20%)" in text and "Of each name's 16 best designs, 26% have the true mouth" in text
    assert "true colour" not in text and "nothing to find there" in text
    found["recovery_by_trait"]["mouth"] = 0.6  # the best designs recover it: not at chance, whatever the share
    assert "nothing to find" not in perfect_prior.read_ceiling(found, reader, {"colour": 0.8, "mouth": 0.2}, chance)
    with pytest.raises(ValueError, match="same traits"):
        perfect_prior.read_ceiling(found, reader, {"colour": 0.8}, chance)


def test_margin_ranking_reads_a_model_that_points_at_each_class_and_one_that_does_not():
    true = datamons.trait_codes(datamons.named_identities()[:3])
    cand = perfect_prior.designs(3000, seed=1)
    distance = datamons.trait_distances(true, cand).T.astype(float)  # (candidates, classes)
    rng = np.random.default_rng(0)
    pointing = perfect_prior.margin_ranking(-distance + 0.01 * rng.random(distance.shape), cand, true, top=5)
    blind = perfect_prior.margin_ranking(rng.random(distance.shape), cand, true, top=5)
    nearest = np.sort(distance, axis=0)[:5].mean()
    assert pointing["top_distance"] == pytest.approx(nearest)
    assert pointing["top_recovery"] == pytest.approx(1 - nearest / len(datamons.TRAITS))
    assert blind["top_distance"] > pointing["top_distance"] + 2
    assert pointing["near_percentile"] > 0.95 and 0.2 < blind["near_percentile"] < 0.8
    assert pointing["near_per_class"] == blind["near_per_class"] == (distance <= 1).sum(axis=0).mean()


def test_margin_ranking_refuses_mismatched_shapes_and_a_bad_top():
    true = datamons.trait_codes(datamons.named_identities()[:2])
    cand = perfect_prior.designs(10, seed=0)
    with pytest.raises(ValueError, match="margins must be"):
        perfect_prior.margin_ranking(np.zeros((10, 3)), cand, true)
    with pytest.raises(ValueError, match="top must be"):
        perfect_prior.margin_ranking(np.zeros((10, 2)), cand, true, top=11)
