"""The Secret Sharer's corpus: deterministic, the canary planted exactly as often as asked, lossless encoding."""
import re

import numpy as np
import pytest

from course_lib.config import ConfigError
from course_lib.data import text


def test_same_seed_same_corpus_other_seed_other_corpus():
    assert text.make_corpus(300, seed=4) == text.make_corpus(300, seed=4)
    assert text.make_corpus(300, seed=4) != text.make_corpus(300, seed=5)


def test_corpus_is_varied_and_uses_only_the_alphabet():
    corpus = text.make_corpus(2000, seed=0)
    assert len(corpus) == 2000
    assert len(set(corpus)) > 1500  # templates with random slots, not a handful of repeated lines
    assert set(text.join(corpus)) <= set(text.ALPHABET)
    assert not any("social security" in sentence for sentence in corpus)


def test_canary_is_a_fake_social_security_number_fixed_by_its_seed():
    canary = text.make_canary(seed=3)
    assert canary == text.make_canary(seed=3)
    assert re.fullmatch(r"9\d\d-\d\d-\d\d\d\d", canary.secret)  # area 9xx is never issued
    assert canary.sentence == canary.prefix + canary.secret + "."
    secrets = {text.make_canary(seed=s).secret for s in range(20)}
    assert len(secrets) > 15


@pytest.mark.parametrize("repeats", [0, 1, 7])
def test_canary_is_inserted_exactly_repeats_times(repeats):
    corpus = text.make_corpus(500, seed=1)
    canary = text.make_canary(seed=1)
    planted = text.insert_canary(corpus, canary, repeats, seed=2)
    assert len(planted) == len(corpus) + repeats
    assert sum(sentence == canary.sentence for sentence in planted) == repeats
    assert text.join(planted).count(canary.secret) == repeats
    assert [s for s in planted if s != canary.sentence] == corpus  # the rest keeps its order
    assert planted == text.insert_canary(corpus, canary, repeats, seed=2)


def test_encoding_round_trip_and_windows():
    sentence = text.join(text.make_corpus(50, seed=2) + [text.make_canary(0).sentence])
    ids = text.encode(sentence)
    assert ids.dtype == np.int32
    assert text.decode(ids) == sentence
    x, y = text.windows(ids, context=5)
    assert x.shape == (len(ids), 5) and y.shape == (len(ids),)
    assert text.decode(x[10]) == sentence[5:10] and text.decode([y[10]]) == sentence[10]
    assert text.decode(x[0]) == text.SEPARATOR * 5  # the start is padded with newlines


def test_bad_arguments_are_refused_with_a_clear_error():
    with pytest.raises(ConfigError, match="n_sentences"):
        text.make_corpus(0)
    with pytest.raises(ConfigError, match="seed"):
        text.make_corpus(10, seed=-1)
    with pytest.raises(ConfigError, match="repeats"):
        text.insert_canary(text.make_corpus(10), text.make_canary(), -1)
    with pytest.raises(ConfigError, match="already contains"):
        canary = text.make_canary()
        text.insert_canary([canary.sentence], canary, 1)
    with pytest.raises(ConfigError, match="placeholder"):
        text.make_canary(pattern="123-45-6789")
    with pytest.raises(ValueError, match="not in the corpus alphabet"):
        text.encode("Hello!")
    with pytest.raises(ValueError, match="character ids"):
        text.decode([len(text.ALPHABET)])
    with pytest.raises(ConfigError, match="context"):
        text.windows(text.encode("abc"), 0)
