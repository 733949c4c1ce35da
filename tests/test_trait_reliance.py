"""Trait reliance: which traits a classifier needs to name a Datamon (what an inversion can recover)."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib.attacks import trait_reliance
from course_lib.data import datamons

NAMED = datamons.named_identities()
TRAITS = list(datamons.TRAITS)


def test_each_identity_gets_every_other_value_of_one_trait_and_nothing_else_changes():
    changed, origin = trait_reliance.one_trait_changed(NAMED, "mouth")
    assert len(changed) == len(NAMED) * (len(datamons.TRAITS["mouth"]) - 1) == len(origin)
    for identity, k in zip(changed, origin):
        source = NAMED[k]
        assert identity.traits["mouth"] != source.traits["mouth"]
        assert {t: v for t, v in identity.traits.items() if t != "mouth"} == \
               {t: v for t, v in source.traits.items() if t != "mouth"}
    for k in range(len(NAMED)):
        values = {changed[i].traits["mouth"] for i in np.flatnonzero(origin == k)}
        assert values == set(datamons.TRAITS["mouth"]) - {NAMED[k].traits["mouth"]}
    with pytest.raises(ValueError, match="unknown trait 'tail'"):
        trait_reliance.one_trait_changed(NAMED, "tail")


class _ReadsTraits:
    """A stand-in classifier that sees the rendered traits (through the renderer) and names the Datamon nearest on
    the traits it ``reads``: changing any other trait can never change its answer."""

    def __init__(self, monkeypatch, reads: list[str]):
        self.keep = [TRAITS.index(t) for t in reads]
        self.codes = np.array([i.code() for i in NAMED])[:, self.keep]
        self.traits = None
        render = datamons.render

        def spy(*args, **kwargs):
            portraits = render(*args, **kwargs)
            self.traits = portraits.traits
            return portraits

        monkeypatch.setattr(datamons, "render", spy)

    def predict(self, images, batch_size=256, verbose=0):
        assert len(images) == len(self.traits)
        distance = (self.traits[:, None, self.keep] != self.codes[None]).sum(axis=2)
        return -distance.astype(np.float32)  # argmax: the nearest Datamon, the lowest label on a tie


def test_a_classifier_that_ignores_the_mouth_still_names_every_datamon_whose_mouth_changed(monkeypatch):
    model = _ReadsTraits(monkeypatch, reads=[t for t in TRAITS if t != "mouth"])
    result = trait_reliance.trait_reliance(model, per_identity=1, size=16)
    assert result["unchanged"] == 1.0
    assert result["still_named"]["mouth"] == 1.0
    assert set(result["still_named"]) == set(TRAITS)


def test_a_classifier_that_reads_only_the_colour_depends_on_the_colour_alone(monkeypatch):
    model = _ReadsTraits(monkeypatch, reads=["colour"])
    result = trait_reliance.trait_reliance(model, per_identity=2, size=16)
    colours = [i.traits["colour"] for i in NAMED]
    first_of_its_colour = [colours.index(c) == k for k, c in enumerate(colours)]  # named on a tie: lowest label
    assert result["unchanged"] == pytest.approx(np.mean(first_of_its_colour))
    for trait in TRAITS:
        if trait != "colour":
            assert result["still_named"][trait] == pytest.approx(result["unchanged"]), trait
    assert result["still_named"]["colour"] < result["unchanged"] / 2


def test_labels_follow_the_identity_each_portrait_came_from():
    class AlwaysFirst:
        def predict(self, images, batch_size=256, verbose=0):
            return np.tile(np.eye(len(NAMED))[0], (len(images), 1))

    result = trait_reliance.trait_reliance(AlwaysFirst(), per_identity=2, size=16)
    assert result["unchanged"] == pytest.approx(1 / len(NAMED))
    assert all(v == pytest.approx(1 / len(NAMED)) for v in result["still_named"].values())
    assert all(v is None for v in result["margin_kept"].values())  # it names nobody with a margin: nothing to keep
    assert trait_reliance.read_reliance(result["margin_kept"], dict.fromkeys(TRAITS, 0.2), measure="margin") \
        .startswith("The target does not name")


def test_the_sentence_names_needed_and_ignored_traits_with_their_recovery():
    text = trait_reliance.read_reliance({"colour": 0.1, "mouth": 1.0}, {"colour": 0.8, "mouth": 0.3})
    assert text.startswith("The target needs colour (named 10% of the time when it changes; recovered 80%)")
    assert "barely looks at mouth (still named 100%; recovered 30%)" in text
    only_ignored = trait_reliance.read_reliance({"mouth": 0.95}, {"mouth": 0.3})
    assert only_ignored.startswith("It barely looks at mouth")
    with pytest.raises(ValueError):
        trait_reliance.read_reliance({"colour": 0.1}, {"mouth": 0.3})


def test_a_target_that_votes_over_every_trait_still_names_all_but_loses_margin_on_each(monkeypatch):
    """Like a disguise-trained target: one changed trait never changes the answer, yet every trait moves the margin;
    a trait it does not read keeps the whole margin."""
    votes = trait_reliance.trait_reliance(_ReadsTraits(monkeypatch, reads=TRAITS), per_identity=1, size=16)
    assert votes["unchanged"] == 1.0 and all(v == 1.0 for v in votes["still_named"].values())
    assert all(0 < v < 1 for v in votes["margin_kept"].values())
    deaf = trait_reliance.trait_reliance(_ReadsTraits(monkeypatch, reads=[t for t in TRAITS if t != "mouth"]),
                                         per_identity=1, size=16)
    assert deaf["margin_kept"]["mouth"] == pytest.approx(1.0) and deaf["margin_kept"]["eyes"] < 1


def test_the_margin_sentence_says_margin_not_names_and_a_bad_measure_is_refused():
    text = trait_reliance.read_reliance({"eyes": 0.6, "mouth": 0.95}, {"eyes": 0.5, "mouth": 0.3}, measure="margin")
    assert text.startswith("The target needs eyes (60% of its margin left when it changes; recovered 50%)")
    assert "barely looks at mouth (95% of its margin left; recovered 30%)" in text
    with pytest.raises(ValueError, match="measure"):
        trait_reliance.read_reliance({"eyes": 0.6}, {"eyes": 0.5}, measure="logit")
