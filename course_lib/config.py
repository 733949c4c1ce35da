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
        # Datamons at 32x32 on a CPU; MNIST models small enough to train in seconds. Targets are Datamon names.
        "smoke": dict(
            image_size=32, train_per_identity=8, test_per_identity=4, n_public=30, public_per_identity=2,
            datamons_width=8, datamons_epochs=1, datamons_batch_size=32, datamons_lr=2e-3,
            mnist_train_size=1000, mnist_epochs=1, mnist_batch_size=128,
            eval_size=100, eps_values=(0.0, 0.1, 0.25), pgd_steps=3, pgd_budget=0.25,
            patch_target="Buildy", patch_size=8, patch_steps=5, patch_batch_size=16, patch_lr=0.05,
            backdoor_target="Securti", backdoor_fraction=0.05, trigger_size=4,
            mia_members=100, mia_overfit_epochs=2, mia_regularised_epochs=1,
            extraction_budgets=(50, 200), extraction_steps=20, extraction_eval_size=200,
            inversion_steps=10,
        ),
        "class": dict(
            image_size=32, train_per_identity=150, test_per_identity=40, n_public=200, public_per_identity=3,
            datamons_width=32, datamons_epochs=25, datamons_batch_size=64, datamons_lr=3e-3,
            mnist_train_size=20000, mnist_epochs=3, mnist_batch_size=128,
            eval_size=500, eps_values=(0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3), pgd_steps=10, pgd_budget=0.25,
            patch_target="Buildy", patch_size=10, patch_steps=300, patch_batch_size=32, patch_lr=0.05,
            backdoor_target="Securti", backdoor_fraction=0.05, trigger_size=4,
            mia_members=1000, mia_overfit_epochs=40, mia_regularised_epochs=8,
            extraction_budgets=(100, 300, 1000, 3000, 10000), extraction_steps=300, extraction_eval_size=2000,
            inversion_steps=200,
        ),
        "full": dict(
            image_size=64, train_per_identity=400, test_per_identity=100, n_public=1000, public_per_identity=5,
            datamons_width=32, datamons_epochs=30, datamons_batch_size=64, datamons_lr=1e-3,
            mnist_train_size=50000, mnist_epochs=10, mnist_batch_size=128,
            eval_size=10000, eps_values=(0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3), pgd_steps=40, pgd_budget=0.25,
            patch_target="Buildy", patch_size=20, patch_steps=2000, patch_batch_size=64, patch_lr=0.05,
            backdoor_target="Securti", backdoor_fraction=0.05, trigger_size=6,
            mia_members=1000, mia_overfit_epochs=80, mia_regularised_epochs=8,
            extraction_budgets=(100, 300, 1000, 3000, 10000), extraction_steps=1500, extraction_eval_size=10000,
            inversion_steps=1000,
        ),
    },
    # --- notebook 02, DP-SGD ------------------------------------------------------------------------------
    "dp_sgd": {
        # tradeoff_runs: one training run per entry; noise_multiplier 0 is the non-private baseline.
        "smoke": {
            "delta": 1e-5, "n_train": 1024, "n_test": 512, "batch_size": 64, "l2_norm_clip": 1.0,
            "optimizer": "adam", "learning_rate": 2e-3,
            "timing_batch": 16, "timing_rounds": 1, "dpkeras_steps": 1, "check_examples": 4,
            "family_n_train": 1024, "family_epochs": 1, "sgd_learning_rate": 0.15, "analysis_epochs": [1],
            "tradeoff_runs": [
                {"noise_multiplier": 0.0, "activation": "relu", "epochs": 1},
                {"noise_multiplier": 1.0, "activation": "relu", "epochs": 1},
                {"noise_multiplier": 1.0, "activation": "tanh", "epochs": 1},
            ],
            "mia_candidates": 256, "mia_references": 2,
            "secret_n_sentences": 200, "secret_canary_repeats": 4, "secret_many_repeats": 12, "secret_epochs": 1, "secret_batch_size": 64,
            "secret_noise_multiplier": 1.0, "secret_n_references": 200,
        },
        # class: measured on the shared 2-core CPU, tanh + DP-Adam at sigma 0.7 for 4 epochs reaches ~96 % at
        # epsilon 2.4 (PLD, 50,000 images); the whole notebook stays within 12 minutes on a machine whose plain-SGD
        # step (bench/dp_speed.py) is 0.065 s. mia_candidates: images a coin puts in or out of the trade-off's
        # training set (half of them are left out), for the membership attacks of section 7; mia_references:
        # reference models of the calibrated attack, trained like the non-private run.
        "class": {
            "delta": 1e-5, "n_train": None, "n_test": None, "batch_size": 256, "l2_norm_clip": 1.0,
            "optimizer": "adam", "learning_rate": 2e-3,
            "timing_batch": 250, "timing_rounds": 3, "dpkeras_steps": 1, "check_examples": 8,
            "family_n_train": 10000, "family_epochs": 1, "sgd_learning_rate": 0.15, "analysis_epochs": [1, 15, 60],
            "tradeoff_runs": [
                {"noise_multiplier": 0.0, "activation": "relu", "epochs": 2},
                {"noise_multiplier": 0.7, "activation": "relu", "epochs": 3},
                {"noise_multiplier": 1.5, "activation": "relu", "epochs": 2},
                {"noise_multiplier": 4.0, "activation": "relu", "epochs": 2},
                {"noise_multiplier": 0.7, "activation": "tanh", "epochs": 4},
            ],
            "mia_candidates": 20000, "mia_references": 2,
            # secret_many_repeats: the same DP training with the canary inserted that often (measured: extracted at
            # the same per-window epsilon, where 4 repeats are not). 1500 sentences (half the steps of 3000) with the
            # noise that keeps epsilon at 3.57 per window: on seeds 0, 1, 2 the secret is extracted without DP
            # (exposure 26.6 bits, the maximum), not with DP (2.5, 0.5, 7.1 bits), and again with 40 repeats.
            "secret_n_sentences": 1500, "secret_canary_repeats": 4, "secret_many_repeats": 40, "secret_epochs": 10, "secret_batch_size": 256,
            "secret_noise_multiplier": 0.66, "secret_n_references": 5000,
        },
        # full (GPU): the talk's 15-epoch trade-off, and tanh for 40 epochs at sigma 1.0 (epsilon 2.26 PLD), the
        # regime where Papernot et al. (2020) report 98.1 % at epsilon 2.93. That tanh run, measured on the CPU with
        # the same code and seed: 97.6 % test accuracy (16 minutes on a shared 2-core CPU).
        "full": {
            "delta": 1e-5, "n_train": None, "n_test": None, "batch_size": 256, "l2_norm_clip": 1.0,
            "optimizer": "adam", "learning_rate": 1e-3,
            "timing_batch": 250, "timing_rounds": 10, "dpkeras_steps": 3, "check_examples": 16,
            "family_n_train": 60000, "family_epochs": 3, "sgd_learning_rate": 0.15, "analysis_epochs": [1, 15, 60],
            "tradeoff_runs": [
                {"noise_multiplier": 0.0, "activation": "relu", "epochs": 15},
                {"noise_multiplier": 0.7, "activation": "relu", "epochs": 15},
                {"noise_multiplier": 1.1, "activation": "relu", "epochs": 15},
                {"noise_multiplier": 1.5, "activation": "relu", "epochs": 15},
                {"noise_multiplier": 3.0, "activation": "relu", "epochs": 15},
                {"noise_multiplier": 1.0, "activation": "tanh", "epochs": 40},
            ],
            "mia_candidates": 20000, "mia_references": 8,
            "secret_n_sentences": 10000, "secret_canary_repeats": 4, "secret_many_repeats": 40, "secret_epochs": 15, "secret_batch_size": 256,
            "secret_noise_multiplier": 0.6, "secret_n_references": 20000,
        },
    },
    # --- notebook 03, the Secret Revealer -----------------------------------------------------------------
    "revealer": {
        # Datamons 32x32 on a CPU (4x cheaper than 64x64 everywhere); the full profile uses the paper's 64x64.
        "smoke": dict(
            image_size=32, train_per_identity=12, test_per_identity=4, n_public=40, public_per_identity=8,
            gan_width=8, gan_epochs=1, gan_steps_per_epoch=3, gan_batch_size=32, n_critic=5, gan_ema_decay=0.9,
            gan_lr_decay_epochs=1,
            inpaint_width=8, inpaint_epochs=1, inpaint_steps_per_epoch=2, gan_warm_epochs=1, inpaint_warm_epochs=1,
            inpaint_lr_decay_epochs=1,
            trait_gan_epochs=1, trait_gan_lr_decay_epochs=1,
            resnet_disguises=4, resnet_disguise_changes=(1, 2), resnet_disguise_traits=None,
            attack_objective="margin", attack_margin_lambda=10.0,
            target_width=8, resnet_width=8, eval_width=8, trait_width=8, trait_epochs=1, frechet_net_epochs=1, classifier_epochs=2, classifier_batch_size=32,
            trait_fresh_per_epoch=64, trait_batch_size=32, trait_lr=3e-3, trait_held_out=0.1,
            classifier_lr=2e-3,
            mnist_train_per_class=200, mnist_classifier_epochs=1, mnist_gan_width=8, mnist_gan_epochs=1, mnist_gan_steps_per_epoch=3,
            attack_iterations=8, attack_restarts=2, attack_seeds=2, attack_lr=0.02, attack_lambda=100.0,
            attack_momentum=0.9, mnist_attack_lr=0.01, mnist_attack_iterations=8, pixel_iterations=8, pixel_lr=10.0,
            aux_iterations=8, aux_seeds=1, pixel_seeds=2, attack_views=2, attack_view_shift=2.0, attack_view_zoom=0.1,
            no_views_seeds=1, attack_candidates=4,
            perfect_prior_designs=300, perfect_prior_finalists=4, perfect_prior_renders=2,
        ),
        "class": dict(
            image_size=32, train_per_identity=100, test_per_identity=30, n_public=200, public_per_identity=30,
            # 28,000 generator steps, a weight average, and the learning rate falling to 0 over the last 3,000:
            # 2,000 steps without either drew coloured blobs (FID 13x the floor), 25,000 without the fall 3.1x
            gan_width=32, gan_epochs=280, gan_steps_per_epoch=100, gan_batch_size=64, n_critic=5, gan_ema_decay=0.999,
            gan_lr_decay_epochs=30,
            inpaint_width=32, inpaint_epochs=100, inpaint_steps_per_epoch=100, inpaint_lr_decay_epochs=40,
            # after a renderer change, `train-checkpoints --warm-start` fine-tunes the shipped GANs this long instead;
            # `--continue-shipped` trains a shipped pair on this long
            gan_warm_epochs=30, inpaint_warm_epochs=40,
            # the trait-conditioned prior: the plain pair above, widened to take the traits (a projection critic),
            # fine-tuned this long on the public portraits and their traits
            trait_gan_epochs=40, trait_gan_lr_decay_epochs=5,
            target_width=32, resnet_width=24, eval_width=32, classifier_epochs=30,
            # target_resnet also learns from disguises (course_lib.data.disguises): per named Datamon, as many as
            # its portraits, each with 1 or 2 traits changed, the name kept, so colour alone no longer names one
            resnet_disguises=100, resnet_disguise_changes=(1, 2), resnet_disguise_traits=None,
            # the trait judge: 40 epochs, each of 1/40 of the public portraits + 8,000 freshly drawn public identities;
            # the Fréchet distances' feature network: the first trait classifier, 8 epochs on the public portraits
            frechet_net_epochs=8,
            trait_width=32, trait_epochs=40, trait_fresh_per_epoch=8000, trait_batch_size=64, trait_lr=3e-3,
            trait_held_out=0.1,
            classifier_batch_size=64, classifier_lr=1e-3,
            mnist_train_per_class=1000, mnist_classifier_epochs=4, mnist_gan_width=16, mnist_gan_epochs=5, mnist_gan_steps_per_epoch=100,
            # restarts are per seed: 5 seeds x 2 restarts x 15 identities = one batch of 150 latent vectors. The
            # auxiliary-knowledge attack (3 kinds) and the pixel baselines (3 attacks) run 1 seed each: with 5 they
            # took 114 s and 75 s of the notebook's 302 s on the 2-core development machine (2 seeds: 53 s and 44 s of
            # 216 s, the same auxiliary top-1), and the notebook must stay within 15 minutes on a machine about 5x
            # slower (plain-SGD step 0.065 s, issue 11)
            attack_iterations=150, attack_restarts=2, attack_seeds=5, attack_lr=0.02, attack_lambda=100.0,
            attack_momentum=0.9, mnist_attack_lr=0.01, mnist_attack_iterations=150, pixel_iterations=150,
            pixel_lr=10.0, pixel_seeds=1, aux_iterations=150, aux_seeds=1,
            # GMI's identity loss averaged over 2 random views of each image (shifts up to 2 pixels, zoom +-10 %). On
            # the AVX2 development machine (plain-SGD step 0.057-0.065 s), against target_resnet at seed 0: top-1 0.91
            # vs 0.75 without views, trait recovery 0.41 vs 0.40, 299 s vs 176 s; 4 views in a sweep: 0.87, 3.4x the
            # time. The paper's recipe runs again (no views) on no_views_seeds seeds only: with 5 the notebook took
            # 887 s there, against its 15-minute limit
            attack_views=2, attack_view_shift=2.0, attack_view_zoom=0.1, no_views_seeds=2,
            # each start is the target's favourite of 200 latents (Plug & Play Attacks' initial selection): with the
            # views, on the first renderer's checkpoints, top-1 0.92 -> 0.96 and trait recovery 0.41 -> 0.47, same time
            attack_candidates=200,
            # GMI's identity loss: "margin" (the name's logit minus the largest other) or the paper's "ce"; the
            # margin's lambda weighs logits, so it is smaller than the cross-entropy's
            attack_objective="margin", attack_margin_lambda=10.0,
            # the perfect-prior search: 20,000 of the 76,800 designs, one portrait each, then each name's 16 best on 16
            # fresh portraits (18 s on the development machine; all designs: 59 s, the same shares and a ceiling
            # within a trait or two per Datamon)
            perfect_prior_designs=20000, perfect_prior_finalists=16, perfect_prior_renders=16,
        ),
        "full": dict(
            image_size=64, train_per_identity=300, test_per_identity=60, n_public=200, public_per_identity=100,
            gan_width=64, gan_epochs=100, gan_steps_per_epoch=400, gan_batch_size=64, n_critic=5, gan_ema_decay=0.999,
            gan_lr_decay_epochs=12,
            inpaint_width=64, inpaint_epochs=30, inpaint_steps_per_epoch=400, gan_warm_epochs=10, inpaint_warm_epochs=5,
            inpaint_lr_decay_epochs=5,
            trait_gan_epochs=10, trait_gan_lr_decay_epochs=3,
            target_width=64, resnet_width=64, eval_width=64, classifier_epochs=30,
            resnet_disguises=300, resnet_disguise_changes=(1, 2), resnet_disguise_traits=None,
            trait_width=64, trait_epochs=20, frechet_net_epochs=20, trait_fresh_per_epoch=8000, trait_batch_size=64, trait_lr=3e-3,
            trait_held_out=0.1,
            classifier_batch_size=64, classifier_lr=1e-3,
            mnist_train_per_class=5000, mnist_classifier_epochs=10, mnist_gan_width=64, mnist_gan_epochs=30, mnist_gan_steps_per_epoch=400,
            attack_iterations=1500, attack_restarts=5, attack_seeds=5, attack_lr=0.02, attack_lambda=100.0,
            attack_momentum=0.9, mnist_attack_lr=0.01, mnist_attack_iterations=1500, pixel_iterations=1500,
            pixel_lr=10.0, pixel_seeds=5, aux_iterations=1500, aux_seeds=5,
            attack_views=4, attack_view_shift=4.0, attack_view_zoom=0.1, no_views_seeds=5, attack_candidates=200,
            attack_objective="margin", attack_margin_lambda=10.0,
            perfect_prior_designs=None, perfect_prior_finalists=32, perfect_prior_renders=16,
        ),
    },
    # --- notebook 04, defences ----------------------------------------------------------------------------
    "defenses": {
        # Queries go over HTTP (about 6 ms per digit, 25 ms per 32x32 colour portrait on the shared 2-core CPU), so
        # the class profile spends a few thousand queries in all. The Datamons models (GAN, judge, target) are
        # notebook 03's, for the same image size; dp_per_identity members + as many non-members per Datamon must fit
        # in the revealer's train_per_identity. The DP target is notebook 03's public trait convolutions + a private
        # Dense head (dp_hidden units) trained with DP-SGD; 25 members per Datamon let the non-private head memorise
        # them (membership AUC about 0.6), so there is a leak for DP to stop. access_seeds: how many seeds the white-box
        # / black-box inversion comparison is repeated over (one identity is 6.7 points of top-1, so one run is noise).
        "smoke": dict(
            mnist_train_size=1000, mnist_epochs=1, mnist_batch_size=128,
            extraction_budgets=(20, 60), extraction_pool=80, extraction_steps=10, extraction_eval_size=200,
            round_decimals=1, mia_members=30, mia_epochs=3, mia_budgets=(10, 30, 50),
            dp_per_identity=6, dp_noise_multipliers=(0.0, 1.0), dp_hidden=16, dp_epochs=1, dp_batch_size=30,
            dp_lr=2e-3, dp_clip=1.0, dp_delta=1e-5, gmi_restarts=2, gmi_iterations=4,
            bb_initial=16, bb_population=1, bb_generations=1, bb_elite=2, bb_sigma=0.5, bb_sigma_decay=0.9,
            bb_prior_weight=0.01, access_seeds=2, cost_eval_size=50, pgd_steps=3, pgd_eps=0.25,
        ),
        "class": dict(
            mnist_train_size=10000, mnist_epochs=2, mnist_batch_size=128,
            extraction_budgets=(30, 100, 300, 1000), extraction_pool=1200, extraction_steps=200,
            extraction_eval_size=2000, round_decimals=1, mia_members=300, mia_epochs=40,
            mia_budgets=(30, 100, 300, 500),
            dp_per_identity=25, dp_noise_multipliers=(0.0, 1.0, 2.0, 4.0), dp_hidden=256, dp_epochs=40,
            dp_batch_size=32, dp_lr=2e-3, dp_clip=1.0, dp_delta=1e-5, gmi_restarts=4, gmi_iterations=100,
            bb_initial=256, bb_population=6, bb_generations=8, bb_elite=4, bb_sigma=0.5, bb_sigma_decay=0.9,
            bb_prior_weight=0.01, access_seeds=5, cost_eval_size=500, pgd_steps=10, pgd_eps=0.25,
        ),
        "full": dict(
            mnist_train_size=60000, mnist_epochs=10, mnist_batch_size=128,
            extraction_budgets=(100, 300, 1000, 3000, 10000), extraction_pool=12000, extraction_steps=1500,
            extraction_eval_size=10000, round_decimals=1, mia_members=1000, mia_epochs=80,
            mia_budgets=(100, 300, 1000, 1800), dp_per_identity=50, dp_noise_multipliers=(0.0, 0.6, 1.0, 2.0, 4.0),
            dp_hidden=256, dp_epochs=60,
            dp_batch_size=64, dp_lr=1e-3, dp_clip=1.0, dp_delta=1e-5, gmi_restarts=5, gmi_iterations=1500,
            bb_initial=1024, bb_population=32, bb_generations=50, bb_elite=8, bb_sigma=0.5, bb_sigma_decay=0.95,
            bb_prior_weight=0.01, access_seeds=5, cost_eval_size=10000, pgd_steps=40, pgd_eps=0.25,
        ),
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


def full_checkpoints_shipped() -> bool:
    """True when ``data/checkpoints`` holds networks trained at the full profile (none are shipped today)."""
    from course_lib import checkpoints  # late: checkpoints imports TensorFlow

    return any(name.startswith("full/") for name in checkpoints.read_manifest()["checkpoints"])


def full_retraining_estimate() -> str:
    """How long the full profile's networks would train here (``checkpoints.profile_retraining_estimate``)."""
    from course_lib import checkpoints, machine  # late: both import TensorFlow

    revealer = TABLE["revealer"]
    return checkpoints.profile_retraining_estimate(revealer["full"], revealer["class"],
                                                   step_here=machine.plain_sgd_step_seconds())


def resolve_profile(profile: str, *, say: bool = True) -> str:
    """Turn ``auto`` into ``full`` (a GPU and full-profile checkpoints) or ``class``, saying why in one line.

    A GPU alone is not enough: without shipped full-profile networks, notebook 03 would train them all first, for
    hours, so ``auto`` stays on ``class`` and says how to ask for ``full`` anyway.
    """
    if profile not in PROFILE_CHOICES:
        raise ConfigError(f"unknown profile '{profile}': choose one of {', '.join(PROFILE_CHOICES)}")
    if profile != "auto":
        return profile
    if not gpu_available():
        resolved, why = "class", "TensorFlow sees no GPU"
    elif not full_checkpoints_shipped():
        resolved, why = "class", ("a GPU is present, but no full-profile checkpoints are shipped; --profile full "
                                  "(PROFILE = \"full\") trains every network of notebook 03 first, "
                                  f"{full_retraining_estimate()}")
    else:
        resolved, why = "full", "a GPU and the full-profile checkpoints are present"
    if say:
        print(f"profile auto -> {resolved}: {why}", flush=True)
    return resolved


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
    # Multi-threaded kernels may sum in a different order from run to run; deterministic ops make
    # "same seed, same numbers" hold on a CPU too, at a small cost in speed.
    tf.config.experimental.enable_op_determinism()


def require_positive(name: str, value: float, *, integer: bool = False) -> None:
    """Stop with one clear sentence when a size, rate or count is not positive."""
    if integer and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if not value > 0:
        raise ConfigError(f"{name} must be positive, got {value!r}")


def require_non_negative(name: str, value: float) -> None:
    if not value >= 0:
        raise ConfigError(f"{name} must be zero or positive, got {value!r}")
