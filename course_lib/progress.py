"""Progress bars that work in Jupyter, under papermill and in a terminal (tqdm.auto picks the front-end)."""
from __future__ import annotations

from typing import Iterable, TypeVar

import tensorflow as tf
from tqdm.auto import tqdm

T = TypeVar("T")


def bar(iterable: Iterable[T], desc: str = "", total: int | None = None, **kwargs) -> Iterable[T]:
    """A tqdm bar over ``iterable`` (plain text when no widget front-end is attached)."""
    return tqdm(iterable, desc=desc, total=total, **kwargs)


class KerasProgress(tf.keras.callbacks.Callback):
    """One bar per ``fit``, advancing by epoch, showing the latest metrics; quieter than Keras's own log."""

    def __init__(self, total_epochs: int, desc: str = "training"):
        super().__init__()
        self.total_epochs = total_epochs
        self.desc = desc
        self._bar = None

    def on_train_begin(self, logs=None):
        self._bar = tqdm(total=self.total_epochs, desc=self.desc, unit="epoch")

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in (logs or {}).items()})
            self._bar.update(1)

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def keras_progress(total_epochs: int, desc: str = "training") -> KerasProgress:
    return KerasProgress(total_epochs, desc)
