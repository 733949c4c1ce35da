"""Shipped weights: load-or-train, with a sha256 check against ``data/checkpoints/manifest.json``.

Users of GMI-style repositories complain that checkpoints are missing or cannot be trusted. The course ships its
own, made by ``python -m course_lib train-checkpoints``; the manifest lists each file's sha256, the command and
profile that made it, the architecture it fits (``spec``) and its measured quality. Weights are Keras HDF5 files
(``save_weights``), never pickles; a file whose bytes differ from the manifest is refused, not loaded.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import tensorflow as tf

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data" / "checkpoints"
MANIFEST = "manifest.json"
DIR_ENV = "COURSE_CHECKPOINTS"  # lets tests and experiments point at another folder


class CheckpointError(ValueError):
    """A checkpoint is missing from the manifest, altered, or made for another architecture."""


def checkpoint_dir(directory: str | os.PathLike | None = None) -> Path:
    return Path(directory or os.environ.get(DIR_ENV) or DEFAULT_DIR)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"checkpoints": {name: entry}}``; an absent manifest reads as empty."""
    path = checkpoint_dir(directory) / MANIFEST
    if not path.exists():
        return {"checkpoints": {}}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_manifest(manifest: dict[str, Any], directory: str | os.PathLike | None = None) -> None:
    path = checkpoint_dir(directory) / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def file_name(name: str) -> str:
    """Checkpoint name (``class/datamons_generator``) -> file name (``class__datamons_generator.h5``).

    A plain ``.h5`` suffix makes Keras write the HDF5 weights only; ``.weights.h5`` would also store the optimizer
    state of a compiled model, tripling the file for nothing the course needs.
    """
    return name.replace("/", "__") + ".h5"


def entry(name: str, directory: str | os.PathLike | None = None) -> dict[str, Any] | None:
    return read_manifest(directory)["checkpoints"].get(name)


def verified_path(name: str, directory: str | os.PathLike | None = None) -> Path:
    """The weights file of ``name`` after checking its sha256 against the manifest; refuses any mismatch."""
    item = entry(name, directory)
    if item is None:
        raise CheckpointError(
            f"checkpoint '{name}' is not in the manifest; run `python -m course_lib train-checkpoints`"
        )
    path = checkpoint_dir(directory) / item["file"]
    if not path.exists():
        raise CheckpointError(
            f"checkpoint file {item['file']} is missing; restore it from git or retrain with RETRAIN=True"
        )
    actual = sha256_file(path)
    if actual != item["sha256"]:
        raise CheckpointError(
            f"checkpoint {item['file']} does not match its manifest (sha256 {actual[:12]}... instead of "
            f"{item['sha256'][:12]}...): refusing to load it; restore the file from git or retrain with RETRAIN=True"
        )
    return path


def load_weights(model: tf.keras.Model, name: str, spec: dict[str, Any] | None = None,
                 directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """Verify, then load ``name`` into ``model``; with ``spec``, refuse weights made for another architecture."""
    path = verified_path(name, directory)
    item = entry(name, directory)
    if spec is not None and item.get("spec") != _plain(spec):
        raise CheckpointError(f"checkpoint '{name}' was made for {item.get('spec')}, not {_plain(spec)}; retrain it")
    model.load_weights(str(path))
    return item


def save_weights(model: tf.keras.Model, name: str, *, profile: str, command: str, spec: dict[str, Any],
                 metrics: dict[str, Any] | None = None, directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write ``model``'s weights and record them (sha256, size, command, profile, spec, metrics) in the manifest."""
    folder = checkpoint_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(name)
    old = entry(name, folder)
    model.save_weights(str(path))
    if old is not None and old["file"] != path.name:  # a renamed file replaces its predecessor
        (folder / old["file"]).unlink(missing_ok=True)
    item = {
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "profile": profile,
        "command": command,
        "spec": _plain(spec),
        "metrics": _plain(metrics or {}),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    manifest = read_manifest(folder)
    manifest["checkpoints"][name] = item
    write_manifest(manifest, folder)
    return item


def is_available(name: str, spec: dict[str, Any] | None = None, directory: str | os.PathLike | None = None) -> bool:
    """True when the manifest lists ``name`` (for ``spec``, if given) and its file exists; bytes are checked on load."""
    item = entry(name, directory)
    if item is None or not (checkpoint_dir(directory) / item["file"]).exists():
        return False
    return spec is None or item.get("spec") == _plain(spec)


def load_or_train(
    name: str,
    build: Callable[[], tf.keras.Model],
    train: Callable[[tf.keras.Model], dict[str, Any]],
    *,
    spec: dict[str, Any],
    retrain: bool = False,
    directory: str | os.PathLike | None = None,
) -> tuple[tf.keras.Model, dict[str, Any]]:
    """Load the shipped ``name`` when it exists for this ``spec`` (sha256 verified), else build and train it.

    Returns the model and its information: the manifest entry (``source: "checkpoint"``) or the metrics ``train``
    returned (``source: "trained"``). A shipped file with the wrong bytes stops with ``CheckpointError``.
    """
    model = build()
    if not retrain and is_available(name, spec, directory):
        item = load_weights(model, name, spec, directory)
        return model, {**item, "source": "checkpoint"}
    metrics = train(model)
    return model, {"metrics": _plain(metrics or {}), "spec": _plain(spec), "source": "trained"}


def _plain(value: Any) -> Any:
    """JSON round trip, so tuples and numpy scalars compare equal to what the manifest holds."""
    from course_lib.report import to_json

    return json.loads(json.dumps(to_json(value)))


def add_metrics(name: str, metrics: dict[str, Any], directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """Record measurements taken after training (e.g. a GAN's sample quality) in ``name``'s manifest entry.

    The weights are verified first and left untouched: the sha256 still describes the same bytes.
    """
    folder = checkpoint_dir(directory)
    verified_path(name, folder)
    manifest = read_manifest(folder)
    item = manifest["checkpoints"][name]
    item["metrics"] = {**item.get("metrics", {}), **_plain(metrics)}
    write_manifest(manifest, folder)
    return item
