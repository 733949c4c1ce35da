"""Shipped weights: load-or-train, with a sha256 check against ``data/checkpoints/manifest.json``.

Users of GMI-style repositories complain that checkpoints are missing or cannot be trusted. The course ships its
own, made by ``python -m course_lib train-checkpoints``; the manifest lists each file's sha256, the command and
profile that made it, the architecture and data it fits (``spec``) and its measured quality. Weights are Keras HDF5
files (``save_weights``), never pickles; a file whose bytes differ from the manifest is refused, not loaded.

A spec names its training data portably (``course_lib.data.identity``): an exact hash of what generated the data and
statistics of the pixels compared within a tolerance, so the same checkpoint is accepted on every CPU. When one is
not used, ``announce_training`` says in one line why, what training it here would cost, and how to force or refuse it.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import tensorflow as tf

from course_lib.data import identity

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data" / "checkpoints"
MANIFEST = "manifest.json"
DIR_ENV = "COURSE_CHECKPOINTS"  # lets tests and experiments point at another folder
NO_TRAINING_ENV = "COURSE_NO_TRAINING"  # "1": stop with an error instead of training a network that is not shipped


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
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}); restore it from git") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("checkpoints"), dict):
        raise CheckpointError(f'{path} has no "checkpoints" object; restore it from git')
    return manifest


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
    item = read_manifest(directory)["checkpoints"].get(name)
    if item is not None:
        weights_path(name, item, directory)  # refuses a file name that leaves the folder
    return item


def weights_path(name: str, item: dict[str, Any], directory: str | os.PathLike | None = None) -> Path:
    """The weights file of a manifest entry, which must be a plain file name inside the checkpoint folder.

    A manifest is data, not code: an entry naming ``../../x`` or an absolute path would make loading, saving or
    replacing weights touch a file outside ``data/checkpoints``, so such an entry is refused.
    """
    folder = checkpoint_dir(directory).resolve()
    file = item.get("file") if isinstance(item, dict) else None
    plain = isinstance(file, str) and file not in ("", ".", "..") and Path(file).name == file and "\\" not in file
    path = (folder / file).resolve() if plain else None
    if path is None or path.parent != folder:
        raise CheckpointError(f"manifest entry '{name}' names file {file!r}, which is not a plain file name inside "
                              f"{folder}; restore manifest.json from git")
    return path


def verified_path(name: str, directory: str | os.PathLike | None = None) -> Path:
    """The weights file of ``name`` after checking its sha256 against the manifest; refuses any mismatch."""
    item = entry(name, directory)
    if item is None:
        raise CheckpointError(
            f"checkpoint '{name}' is not in the manifest; run `python -m course_lib train-checkpoints`"
        )
    path = weights_path(name, item, directory)
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
    if spec is not None and (difference := spec_difference(item.get("spec"), spec)):
        raise CheckpointError(f"checkpoint '{name}' does not fit: {difference}; retrain it")
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
        weights_path(name, old, folder).unlink(missing_ok=True)
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
    if item is None or not weights_path(name, item, directory).exists():
        return False
    return spec is None or spec_difference(item.get("spec"), spec) is None


def spec_difference(stored: dict[str, Any] | None, wanted: dict[str, Any]) -> str | None:
    """None when a checkpoint made for ``stored`` fits ``wanted``; else which fields differ, in one phrase.

    Every field must be equal, except ``data_summary``, which must agree within ``identity.TOLERANCE`` (pixels
    differ in their last bits between CPUs; see ``course_lib.data.identity``).
    """
    stored, wanted = stored or {}, _plain(wanted)
    differences = []
    for key in sorted(set(stored) | set(wanted)):
        have, want = stored.get(key), wanted.get(key)
        if key == "data_summary" and have is not None and want is not None:
            gap = identity.summary_difference(have, want)
            if gap > identity.TOLERANCE:
                differences.append(f"data_summary (off by {gap:.2g}, tolerance {identity.TOLERANCE:g})")
        elif have != want:
            differences.append(f"{key} ({_brief(have)} in the manifest, {_brief(want)} here)")
    return "spec field " + ", ".join(differences) + " differ" + ("" if len(differences) > 1 else "s") \
        if differences else None


def _brief(value: Any, limit: int = 40) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _why_not_loaded(name: str, spec: dict[str, Any] | None, directory) -> str | None:
    item = entry(name, directory)
    if item is None:
        return f"'{name}' is not in {checkpoint_dir(directory) / MANIFEST}"
    if not weights_path(name, item, directory).exists():
        return f"its file {item['file']} is missing from {checkpoint_dir(directory)}"
    return None if spec is None else spec_difference(item.get("spec"), spec)


def training_estimate(names: list[str], directory=None, planned: dict[str, float] | None = None) -> str:
    """"about N min on this machine", scaled from the training time of the shipped entry by machine speed.

    The manifest records, per entry, its training seconds and the plain-SGD step of ``bench/dp_speed.py`` on the
    machine that made it; the same step is measured here (a few seconds) and the time scaled by the ratio. With
    ``planned`` (e.g. ``{"generator_steps": 25000}``), the time is also scaled by the planned over the recorded work.
    """
    items = [entry(n, directory) for n in names]
    seconds = [i.get("metrics", {}).get("seconds") for i in items if i]
    steps = [i.get("metrics", {}).get("plain_sgd_step_seconds") for i in items if i]
    if not seconds or None in seconds:
        return "time unknown (no shipped entry to scale from)"
    made = max(seconds)  # the parts of a pair share one training run
    recorded = items[0].get("metrics", {})
    for key, value in (planned or {}).items():
        if recorded.get(key):
            made *= value / recorded[key]
    from course_lib import machine

    here = machine.plain_sgd_step_seconds()
    if not steps or None in steps:
        return f"{made / 60:.0f} min on the machine that made it (plain-SGD step here {here:.3f} s)"
    scaled = made * here / max(steps)
    return f"about {max(scaled / 60, 1):.0f} min on this machine (plain-SGD step {here:.3f} s here, {max(steps):.3f} s " \
           f"on the machine that made the shipped one)"


def profile_retraining_estimate(target: Mapping[str, Any], source: Mapping[str, Any], source_profile: str = "class",
                                directory=None, step_here: float | None = None) -> str:
    """Rough time to train every network of notebook 03 at ``target``'s sizes on this machine, from the shipped
    ``source_profile`` entries: each entry's seconds scaled by the pixels per image, the GAN's width squared and its
    generator steps (target over source), then by the plain-SGD step here over the one where it was made. Only an
    order of magnitude: enough to say "hours", not to plan a day."""
    entries = {name: item for name, item in read_manifest(directory)["checkpoints"].items()
               if name.startswith(source_profile + "/")}
    runs: dict[str, dict[str, Any]] = {}
    for name, item in entries.items():  # a GAN's generator and critic share one run
        runs.setdefault(name.removesuffix("_generator").removesuffix("_critic"), item.get("metrics", {}))
    if not runs or any(m.get("seconds") is None for m in runs.values()):
        return "time unknown (no shipped entries to scale from)"
    pixels = (target["image_size"] / source["image_size"]) ** 2
    total = 0.0
    for name, metrics in runs.items():
        scale = pixels
        if name.endswith("datamons_gan") or name.endswith("datamons_inpainting"):
            steps = metrics.get("generator_steps") or source["gan_epochs"] * source["gan_steps_per_epoch"]
            scale *= (target["gan_epochs"] * target["gan_steps_per_epoch"] / steps
                      * (target["gan_width"] / source["gan_width"]) ** 2)
        made = metrics.get("plain_sgd_step_seconds")
        total += metrics["seconds"] * scale * (step_here / made if step_here and made else 1.0)
    return f"about {total / 3600:.0f} hours here, scaled from the {source_profile} checkpoints' training times"


def announce_training(names: list[str], spec: dict[str, Any] | None, *, retrain: bool, directory=None,
                      planned: dict[str, float] | None = None, starting_from: str | None = None,
                      force_hint: str = "RETRAIN=True (or `python -m course_lib train-checkpoints --force`)") -> None:
    """Never train silently: one line saying why a network is trained, what it costs, how to force or refuse it;
    ``starting_from`` names the weights a fine-tune starts from (else it trains afresh).

    With the environment variable ``COURSE_NO_TRAINING=1`` the same line is raised as ``CheckpointError`` instead.
    """
    label = names[0].removesuffix("_generator")
    if retrain:
        start = f"from {starting_from}" if starting_from else "afresh"
        print(f"{label}: training {start} as asked (retrain), {training_estimate(names, directory, planned)}",
              flush=True)
        return
    reasons = [r for r in (_why_not_loaded(n, spec, directory) for n in names) if r]
    reason = reasons[0] if reasons else "not loadable"
    line = (f"{label}: shipped checkpoint not used: {reason}; training it here takes "
            f"{training_estimate(names, directory, planned)}; {force_hint} retrains on purpose, "
            f"{NO_TRAINING_ENV}=1 stops instead of training")
    if os.environ.get(NO_TRAINING_ENV, "").strip().lower() in ("1", "true", "yes"):
        raise CheckpointError(line)
    print(line, flush=True)


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
    announce_training([name], spec, retrain=retrain, directory=directory)
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
