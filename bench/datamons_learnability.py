"""Are the Datamons learnable but not trivial? A small CNN vs nearest neighbour on raw pixels, 15 named identities.

The course needs both: a CNN that tells the cast apart (>= 95 % top-1 on held-out portraits), so the attacks of
notebooks 01 and 03 have a real target, and raw-pixel nearest neighbour below 60 %, so recognising a Datamon takes
learned features, as recognising a face does. Trains on 15 x 200 portraits, tests on 15 x 50.
Run: python bench/datamons_learnability.py [--size 64] [--epochs 8]
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

from course_lib.data import datamons  # noqa: E402


def pixel_nn_accuracy(train: datamons.Portraits, test: datamons.Portraits) -> float:
    """Top-1 of 1-nearest-neighbour (Euclidean) on raw pixels."""
    knn = KNeighborsClassifier(n_neighbors=1).fit(train.images.reshape(len(train), -1), train.labels)
    return float(knn.score(test.images.reshape(len(test), -1), test.labels))


def cnn_accuracy(train: datamons.Portraits, test: datamons.Portraits, *, epochs: int, seed: int) -> float:
    from course_lib.models import classifiers

    model = classifiers.datamons_cnn(train.images.shape[1:], len(train.names))
    classifiers.train_classifier(model, train.images, train.labels, epochs=epochs, batch_size=32,
                                 learning_rate=2e-3, seed=seed, progress=False)
    return classifiers.accuracy(model, test.images, test.labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--train", type=int, default=200, help="portraits per identity for training")
    parser.add_argument("--test", type=int, default=50, help="portraits per identity for testing")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-cnn", action="store_true")
    args = parser.parse_args()
    splits = datamons.make_splits(size=args.size, train_per_identity=args.train, test_per_identity=args.test,
                                  n_public=200, public_per_identity=1, seed=args.seed)
    train, test = splits.private_train, splits.private_test
    start = time.process_time()
    nn = pixel_nn_accuracy(train, test)
    print(f"pixel 1-NN top-1: {nn:.3f} (must stay below 0.60)  [{time.process_time() - start:.1f} CPU s]")
    if not args.skip_cnn:
        start, wall = time.process_time(), time.perf_counter()
        acc = cnn_accuracy(train, test, epochs=args.epochs, seed=args.seed)
        print(f"small CNN top-1:  {acc:.3f} (must reach 0.95)  [{args.epochs} epochs, "
              f"{time.process_time() - start:.0f} CPU s, {time.perf_counter() - wall:.0f} wall s]")
    print(f"chance: {1 / len(train.names):.3f}; CNN / pixel-NN ratio: "
          + (f"{acc / nn:.2f}" if not args.skip_cnn else "n/a"))


if __name__ == "__main__":
    main()
