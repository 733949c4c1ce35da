"""Profiles, device detection, seeding and parameter validation.

Every size, epoch count and iteration budget of the course lives in ``TABLE`` below, one section per notebook,
so that a notebook never hard-codes a number a profile should own. ``load(PROFILE, SEED)`` turns a profile name
into a read-only ``Config`` whose sections read as attributes: ``cfg.dp_sgd.epochs``.
"""
from __future__ import annotations

import os
import random
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

PROFILES = ("smoke", "class", "full")
PROFILE_CHOICES = PROFILES + ("auto",)

# One table for the whole course: TABLE[section][profile] -> {name: value}.
# smoke: every cell runs in seconds on a CPU (tests, CI). class: a 2-core laptop, ~10 min a notebook, results
# that teach. full: paper-scale settings for a GPU; same code path as class, only sizes change.
# Each notebook owns one section; keep the three profiles' keys identical (a test checks it).
TABLE: dict[str, dict[str, dict[str, Any]]] = {
    # --- notebook 01, "Meet the cast" and the attacks ------------------------------------------------------
    "attacks": {
        "smoke": {},
        "class": {},
        "full": {},
    },
    # --- notebook 02, DP-SGD ------------------------------------------------------------------------------
    "dp_sgd": {
        "smoke": {},
        "class": {},
        "full": {},
    },
    # --- notebook 03, the Secret Revealer -----------------------------------------------------------------
    "revealer": {
        "smoke": {},
        "class": {},
        "full": {},
    },
    # --- notebook 04, defences ----------------------------------------------------------------------------
    "defenses": {
        "smoke": {},
        "class": {},
        "full": {},
    },
}


class ConfigError(ValueError):
    """A parameter that cannot work; the message says what was wrong and how to fix it."""


class Section(Mapping[str, Any]):
    """Read-only view of one section of the table, with attribute access (``cfg.dp_sgd.epochs``)."""

    def __init__(self, name: str, values: Mapping[str, Any]):
        self._name = name
        self._values = MappingProxyType(dict(values))

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(
                f"config section '{self._name}' has no setting '{key}'; it has: {', '.join(sorted(self._values))}"
            ) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Section({self._name!r}, {dict(self._values)!r})"


class Config:
    """The resolved profile: its name, the seed, and one ``Section`` per notebook."""

    def __init__(self, profile: str, seed: int, sections: Mapping[str, Mapping[str, Any]]):
        self.profile = profile
        self.seed = seed
        self._sections = {name: Section(name, values) for name, values in sections.items()}

    def __getattr__(self, key: str) -> Section:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._sections[key]
        except KeyError:
            raise AttributeError(
                f"config has no section '{key}'; it has: {', '.join(sorted(self._sections))}"
            ) from None

    def __repr__(self) -> str:
        return f"Config(profile={self.profile!r}, seed={self.seed})"


def gpu_available() -> bool:
    """True when TensorFlow sees a GPU (imports TensorFlow, so call it only when needed)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def resolve_profile(profile: str) -> str:
    """Turn ``auto`` into ``full`` (GPU present) or ``class`` (CPU only); check any other name."""
    if profile not in PROFILE_CHOICES:
        raise ConfigError(f"unknown profile '{profile}': choose one of {', '.join(PROFILE_CHOICES)}")
    if profile == "auto":
        return "full" if gpu_available() else "class"
    return profile


def load(profile: str = "auto", seed: int = 0, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
    """Resolve ``profile``, seed every generator with ``seed`` and return the profile's settings.

    ``overrides`` maps a section to the settings to change (``{"dp_sgd": {"epochs": 3}}``); a name the table
    does not know is refused, so a typo never silently does nothing.
    """
    seed = validate_seed(seed)
    resolved = resolve_profile(profile)
    sections = {name: dict(table[resolved]) for name, table in TABLE.items()}
    for section, changes in (overrides or {}).items():
        if section not in sections:
            raise ConfigError(f"unknown config section '{section}': choose one of {', '.join(sorted(sections))}")
        for key, value in changes.items():
            if key not in sections[section]:
                raise ConfigError(
                    f"section '{section}' has no setting '{key}'; it has: {', '.join(sorted(sections[section]))}"
                )
            sections[section][key] = value
    seed_everything(seed)
    return Config(resolved, seed, sections)


def validate_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"SEED must be a non-negative integer, got {seed!r}")
    return int(seed)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow so the same seed gives the same numbers."""
    seed = validate_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - TensorFlow is a hard dependency, but config stays importable
        return
    tf.keras.utils.set_random_seed(seed)


def require_positive(name: str, value: float, *, integer: bool = False) -> None:
    """Stop with one clear sentence when a size, rate or count is not positive."""
    if integer and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if not value > 0:
        raise ConfigError(f"{name} must be positive, got {value!r}")


def require_non_negative(name: str, value: float) -> None:
    if not value >= 0:
        raise ConfigError(f"{name} must be zero or positive, got {value!r}")
