"""A synthetic text corpus with a planted secret, for the Secret Sharer experiment of notebook 02.

Why synthetic: the course needs text that is varied enough for a language model to learn, that contains no real
person's data, and that can be regenerated bit for bit from a seed. The corpus mixes customer-service and medical
notes built from templates; numbers appear in many places (orders, phone numbers, doses) so that a model learns
"digits follow *number is*" but cannot guess which digits a secret has unless it memorised them.

The canary (Carlini et al., "The Secret Sharer", 2019) is one sentence, ``my social security number is 9DD-DD-DDDD.``:
social-security numbers whose area starts with 9 are never issued, so the secret is fake by construction.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from course_lib.config import ConfigError, require_positive

# Every character the corpus and the canary use; index 0 (newline) separates sentences and pads the first context.
ALPHABET = "\n" + " " + string.ascii_lowercase + string.digits + "-.,'"
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
SEPARATOR = "\n"

_NAMES = (
    "alice", "bruno", "chloe", "david", "emma", "farid", "grace", "hugo", "ines", "jonas", "karim", "lena",
    "marco", "nadia", "oscar", "paula", "quentin", "rosa", "samir", "tina", "victor", "yasmin", "zoe",
)
_AGENTS = ("agent kim", "agent lopez", "agent moreau", "agent singh", "agent weber")
_SYMPTOMS = (
    "a headache", "a dry cough", "back pain", "a sore throat", "dizziness", "a mild fever", "nausea",
    "a skin rash", "knee pain", "fatigue", "an earache", "chest tightness",
)
_DRUGS = ("ibuprofen", "paracetamol", "amoxicillin", "cetirizine", "omeprazole", "metformin", "salbutamol")
_FREQUENCIES = ("once a day", "twice a day", "every eight hours", "at bedtime", "with meals")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december",
)
_PRODUCTS = ("blender", "kettle", "laptop", "printer", "router", "phone case", "desk lamp", "coffee maker")
_PROBLEMS = ("arrived broken", "stopped working", "was never delivered", "is missing a part", "makes a loud noise")


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, size=n))


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


# Each template is a function of the random generator, so slots can hold names, numbers or phrases.
_TEMPLATES = (
    lambda r: f"patient {_pick(r, _NAMES)} reports {_pick(r, _SYMPTOMS)} since {_pick(r, _WEEKDAYS)}.",
    lambda r: f"prescribed {_pick(r, _DRUGS)} {int(r.integers(1, 9)) * 50} mg {_pick(r, _FREQUENCIES)}.",
    lambda r: f"follow up in {int(r.integers(2, 15))} days if {_pick(r, _SYMPTOMS)} persists.",
    lambda r: f"blood pressure {int(r.integers(100, 160))} over {int(r.integers(60, 100))}, "
    f"pulse {int(r.integers(55, 110))}.",
    lambda r: f"temperature {int(r.integers(36, 40))}.{int(r.integers(10))} degrees, patient feels better.",
    lambda r: f"my date of birth is {int(r.integers(1, 29))} {_pick(r, _MONTHS)} {int(r.integers(1940, 2006))}.",
    lambda r: f"customer {_pick(r, _NAMES)} called about order {_digits(r, 6)}.",
    lambda r: f"my order number is {_digits(r, 6)}.",
    lambda r: f"my phone number is 555-01{_digits(r, 2)}.",
    lambda r: f"my account number is {_digits(r, 4)}-{_digits(r, 4)}.",
    lambda r: f"my room number is {int(r.integers(100, 500))}.",
    lambda r: f"please call me back at 555-01{_digits(r, 2)} after {int(r.integers(1, 7))} pm.",
    lambda r: f"the {_pick(r, _PRODUCTS)} {_pick(r, _PROBLEMS)}, i want a refund.",
    lambda r: f"refund of {int(r.integers(5, 400))} dollars approved for {_pick(r, _NAMES)}.",
    lambda r: f"ticket {_digits(r, 5)} closed by {_pick(r, _AGENTS)}.",
    lambda r: f"{_pick(r, _NAMES)} asked to move the delivery to {_pick(r, _WEEKDAYS)} "
    f"{int(r.integers(1, 29))} {_pick(r, _MONTHS)}.",
    lambda r: f"{_pick(r, _NAMES)}'s {_pick(r, _PRODUCTS)} {_pick(r, _PROBLEMS)}.",
)


@dataclass(frozen=True)
class Canary:
    """The planted secret: ``prefix + secret + suffix`` is the sentence inserted into the corpus.

    ``pattern`` is the secret's format with one ``{}`` per random character (as TF Privacy's secret generator
    expects) and ``vocab`` the characters a placeholder can take; references for the exposure follow the same format.
    """

    prefix: str
    secret: str
    pattern: str
    vocab: tuple[str, ...]
    suffix: str = "."

    @property
    def sentence(self) -> str:
        return self.prefix + self.secret + self.suffix

    def fill(self, characters: Sequence[str]) -> str:
        """The secret made of the given placeholder characters (the pattern's fixed characters stay)."""
        return self.pattern.format(*characters)


CANARY_PREFIX = "my social security number is "
# Area numbers 900-999 are never issued as social-security numbers: the secret cannot be anyone's.
CANARY_PATTERN = "9{}{}-{}{}-{}{}{}{}"
CANARY_VOCAB = tuple(string.digits)


def make_corpus(n_sentences: int, seed: int = 0) -> list[str]:
    """``n_sentences`` templated notes, the same list for the same seed (no canary in it)."""
    require_positive("n_sentences", n_sentences, integer=True)
    _check_seed(seed)
    rng = np.random.default_rng([seed, 0x7E57])
    return [_TEMPLATES[int(rng.integers(len(_TEMPLATES)))](rng) for _ in range(n_sentences)]


def make_canary(seed: int = 0, *, prefix: str = CANARY_PREFIX, pattern: str = CANARY_PATTERN,
                vocab: Sequence[str] = CANARY_VOCAB) -> Canary:
    """A random fake social-security number after ``prefix``, drawn from ``pattern`` and ``vocab`` with ``seed``."""
    _check_seed(seed)
    vocab = tuple(vocab)
    if not vocab or any(len(ch) != 1 or ch not in _INDEX for ch in vocab):
        raise ConfigError(f"canary vocab must be single characters of the alphabet, got {vocab!r}")
    n_slots = placeholder_count(pattern)
    if n_slots == 0:
        raise ConfigError(f"canary pattern {pattern!r} has no '{{}}' placeholder, so there is no secret to guess")
    rng = np.random.default_rng([seed, 0xCA4A])
    secret = pattern.format(*(vocab[int(i)] for i in rng.integers(len(vocab), size=n_slots)))
    encode(prefix + secret)  # refuses characters the model cannot read
    return Canary(prefix=prefix, secret=secret, pattern=pattern, vocab=vocab)


def placeholder_count(pattern: str) -> int:
    """How many ``{}`` slots a secret pattern has."""
    return sum(field is not None for _, field, _, _ in string.Formatter().parse(pattern))


def insert_canary(corpus: Sequence[str], canary: Canary, repeats: int, seed: int = 0) -> list[str]:
    """A copy of ``corpus`` with the canary sentence inserted ``repeats`` times at random places."""
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 0:
        raise ConfigError(f"canary repeats must be a non-negative integer, got {repeats!r}")
    _check_seed(seed)
    if any(canary.sentence in sentence for sentence in corpus):
        raise ConfigError("the corpus already contains the canary sentence; insert it into a clean corpus")
    rng = np.random.default_rng([seed, 0x1A5E])
    sentences = list(corpus)
    # Draw final positions in the longer list, so repeats may land next to each other as often as chance says.
    positions = np.sort(rng.choice(len(sentences) + repeats, size=repeats, replace=False))
    for position in positions:
        sentences.insert(int(position), canary.sentence)
    return sentences


def join(sentences: Sequence[str]) -> str:
    """The corpus as one string, one sentence a line."""
    return SEPARATOR.join(sentences) + SEPARATOR


def encode(text: str) -> np.ndarray:
    """Character ids (int32) of ``text``; refuses characters outside ``ALPHABET``."""
    unknown = sorted(set(text) - set(_INDEX))
    if unknown:
        raise ValueError(f"characters {unknown!r} are not in the corpus alphabet; use only {ALPHABET!r}")
    return np.fromiter((_INDEX[ch] for ch in text), dtype=np.int32, count=len(text))


def decode(ids: Sequence[int] | np.ndarray) -> str:
    """The text of character ids (inverse of ``encode``)."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    if ids.size and (ids.min() < 0 or ids.max() >= len(ALPHABET)):
        raise ValueError(f"character ids must lie in [0, {len(ALPHABET) - 1}]")
    return "".join(ALPHABET[i] for i in ids)


def windows(ids: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Next-character training pairs: each id with the ``context`` ids before it (the start padded with newlines).

    Returns ``x`` of shape (len(ids), context) and ``y`` of shape (len(ids),), both int32.
    """
    require_positive("context", context, integer=True)
    ids = np.asarray(ids, dtype=np.int32)
    if ids.ndim != 1 or ids.size == 0:
        raise ValueError("windows needs a non-empty 1-D array of character ids")
    padded = np.concatenate([np.full(context, _INDEX[SEPARATOR], dtype=np.int32), ids])
    x = np.lib.stride_tricks.sliding_window_view(padded[:-1], context).copy()
    return x, ids.copy()


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
