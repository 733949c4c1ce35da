"""Shared test set-up: quiet TensorFlow and keep every test offline and seeded."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
