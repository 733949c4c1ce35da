"""Does the target's margin point at a Datamon among the prior's images, as it does among real renders?

Notebook 03's perfect prior (the renderer, searched exhaustively) recovers far more traits than GAN inversion of the
same target. This script asks where the gap comes from. It draws one pool of the shipped plain GAN's samples (their
traits as the trait judge reads them), one of the trait-conditioned prior's drawings of the same designs as the
renders (again as the judge reads them), and one pool of as many rendered designs (their traits known), scores them
with each target, and prints, averaged over the fifteen (``perfect_prior.margin_ranking``): in how many traits the 10
candidates a target is most sure of differ from the Datamon, the share of their traits that are right, and where
the candidates within one trait of it rank. If the prior's near misses rank far lower than the renderer's, GMI's
search is climbing something other than the traits in the generator's images. (The judge may misread a sample;
then the near misses would rank at random, near 0.5.) About 1 minute at class on a 2-core machine whose plain-SGD
step of ``bench/dp_speed.py`` is 0.010 s.

    python bench/target_on_prior.py [--profile class] [--pool 20000] [--top 10] [--seed 0]
"""
from __future__ import annotations

import argparse

import numpy as np

from course_lib import config  # first: course_lib settles the stack before TensorFlow loads
from course_lib import machine
from course_lib import train_checkpoints as recipes
from course_lib.attacks import perfect_prior
from course_lib.data import datamons
from course_lib.models import gan, targets, trait_prior

BATCH = 1000


def generator_pool(generator, judge, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(images, traits as the judge reads them) of ``n`` samples of ``generator`` from seeded normal latents."""
    z = np.random.default_rng(seed).standard_normal((n, int(generator.input_shape[-1]))).astype(np.float32)
    images = np.concatenate([generator(z[i:i + BATCH], training=False).numpy() for i in range(0, n, BATCH)])
    return images, targets.predict_traits(judge, images, list(datamons.TRAITS))


def conditional_pool(generator, judge, designs: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(images, traits as the judge reads them) of the trait-conditioned prior told ``designs``, seeded latents."""
    told = trait_prior.conditions(designs)
    images = gan.generate(generator, len(designs), seed=seed, batch_size=BATCH, conditions=told)
    return images, targets.predict_traits(judge, images, list(datamons.TRAITS))


def margins(model, images: np.ndarray) -> np.ndarray:
    return perfect_prior.logit_margins(np.concatenate([model(images[i:i + BATCH], training=False).numpy()
                                                       for i in range(0, len(images), BATCH)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="class", choices=config.PROFILES)
    parser.add_argument("--pool", type=int, default=20_000, help="candidates in each pool")
    parser.add_argument("--top", type=int, default=10, help="candidates kept per Datamon")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cfg = config.load(args.profile, args.seed)
    r = cfg.revealer
    models = recipes.revealer_models(cfg, only=["gan", "trait_gan", "traits", *targets.TARGETS], progress=False)
    generator, judge = models["gan"][0][0], models["traits"][0]
    true = datamons.trait_codes(datamons.named_identities())
    gan_images, gan_traits = generator_pool(generator, judge, args.pool, args.seed)
    designs = perfect_prior.designs(args.pool, seed=args.seed)
    told_images, told_traits = conditional_pool(models["trait_gan"][0][0], judge, designs, args.seed)
    print(f"profile {args.profile}: {args.pool} GAN samples and as many trait-GAN drawings (traits read by the "
          f"judge) and rendered designs (traits known), one portrait each; the {args.top} candidates each target is most sure of per "
          f"Datamon (plain-SGD step here {machine.plain_sgd_step_seconds():.3f} s)")
    print(f"{'target':14s} {'pool':9s} {'top traits off':>14s} {'top traits right':>16s} "
          f"{'rank of near misses':>19s} {'near misses':>11s}")
    for name in targets.TARGETS:
        model = models[name][0]
        pools = {"GAN": (margins(model, gan_images), gan_traits),
                 "trait GAN": (margins(model, told_images), told_traits),
                 "renders": (perfect_prior.score_designs(model, designs, size=r.image_size, seed=args.seed,
                                                         progress=False), designs)}
        for pool, (scores, codes) in pools.items():
            row = perfect_prior.margin_ranking(scores, codes, true, top=args.top)
            print(f"{name:14s} {pool:9s} {row['top_distance']:14.2f} {row['top_recovery']:16.3f} "
                  f"{row['near_percentile']:19.3f} {row['near_per_class']:11.1f}", flush=True)


if __name__ == "__main__":
    main()
