"""``train-checkpoints --warm-start``: after a renderer change, a GAN fine-tunes its shipped pair instead of training
for hours from scratch, and only when that pair is the same network trained on other data. ``--continue-shipped``:
a shipped pair trains on from its own weights, on any machine (no training state needed)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from course_lib import checkpoints, config
from course_lib import train_checkpoints as tc

NETWORK = {"arch": "tiny", "width": 3}


def tiny_model(seed=0):
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=(4,)), tf.keras.layers.Dense(3)])


def ship_pair(directory, spec, parts=("generator", "critic")):
    for part in parts:
        checkpoints.save_weights(tiny_model(), f"smoke/pair_{part}", profile="smoke", command="test", spec=spec,
                                 directory=directory)


def spec_for(data, **network):
    return {**NETWORK, **network, "data": data, "data_summary": [0.5, 0.25]}


def test_a_pair_trained_on_other_data_is_a_warm_start(tmp_path):
    ship_pair(tmp_path, spec_for("renderer-1"))
    found = tc.warm_start_source("smoke/pair", spec_for("renderer-2"), ("generator", "critic"), tmp_path)
    assert found is not None and found["spec"]["data"] == "renderer-1"
    assert found["sha256"] == checkpoints.entry("smoke/pair_generator", tmp_path)["sha256"]


@pytest.mark.parametrize("wanted, shipped_parts", [
    (spec_for("renderer-1"), ("generator", "critic")),  # same data: the shipped pair simply loads
    (spec_for("renderer-2", width=4), ("generator", "critic")),  # another network
    (spec_for("renderer-2"), ("generator",)),  # half a pair
])
def test_no_warm_start_from_the_same_data_another_network_or_half_a_pair(tmp_path, wanted, shipped_parts):
    ship_pair(tmp_path, spec_for("renderer-1"), shipped_parts)
    assert tc.warm_start_source("smoke/pair", wanted, ("generator", "critic"), tmp_path) is None


def test_the_smoke_gan_fine_tunes_its_shipped_pair_and_records_where_it_started(tmp_path, monkeypatch):
    """Ship the smoke GAN's pair under other data, then train with --warm-start: the generator starts from the shipped
    weights (after one epoch of three steps it is far nearer them than to a fresh network) and the manifest
    metrics name the start."""
    monkeypatch.setenv(checkpoints.DIR_ENV, str(tmp_path))
    cfg = config.load("smoke", 0)
    cold = tc.recipes(cfg, progress=False)["gan"]
    tf.keras.utils.set_random_seed(7)
    shipped = cold.build()
    for model, part in zip(shipped, cold.parts):
        checkpoints.save_weights(model, f"{cold.name}_{part}", profile="smoke", command="test",
                                 spec={**cold.spec, "data": "an-older-renderer"},
                                 metrics={"generator_steps": 28000, "seconds": 3600.0})
    warm = tc.recipes(cfg, progress=False, work_dir=tmp_path / "state", warm_start=True)["gan"]
    assert warm.planned == {"generator_steps": cfg.revealer.gan_warm_epochs * cfg.revealer.gan_steps_per_epoch}
    (generator, _), info = tc.obtain(warm, retrain=True)
    start = info["metrics"]["warm_start"]
    assert start["from_data"] == "an-older-renderer" and start["generator_steps"] == 28000
    assert start["from_sha256"] == checkpoints.entry(f"{cold.name}_generator")["sha256"]
    assert (tmp_path / "state" / "smoke" / "datamons_gan_warm").is_dir()  # its own resumable state

    def distance(a, b):
        return sum(float(np.abs(x - y).sum()) for x, y in zip(a.get_weights(), b.get_weights()))

    tf.keras.utils.set_random_seed(123)
    fresh = cold.build()[0]
    assert distance(generator, shipped[0]) < 0.1 * distance(fresh, shipped[0])
    assert json.loads(json.dumps(start))  # the manifest can hold it


def test_without_the_flag_a_stale_pair_is_retrained_from_scratch(tmp_path, monkeypatch):
    monkeypatch.setenv(checkpoints.DIR_ENV, str(tmp_path))
    cfg = config.load("smoke", 0)
    cold = tc.recipes(cfg, progress=False)["gan"]
    for model, part in zip(cold.build(), cold.parts):
        checkpoints.save_weights(model, f"{cold.name}_{part}", profile="smoke", command="test",
                                 spec={**cold.spec, "data": "an-older-renderer"})
    assert cold.planned == {"generator_steps": cfg.revealer.gan_epochs * cfg.revealer.gan_steps_per_epoch}
    _, info = tc.obtain(tc.recipes(cfg, progress=False)["gan"], retrain=True)
    assert "warm_start" not in info["metrics"]


def test_the_command_fine_tunes_a_stale_smoke_gan_and_ships_it(tmp_path):
    """`python -m course_lib train-checkpoints --profile smoke --warm-start --only gan`, run for real on a copy of the
    shipped checkpoints whose GAN entries claim another renderer's data."""
    import shutil
    import subprocess
    import sys

    shipped = checkpoints.checkpoint_dir()
    for path in shipped.iterdir():
        shutil.copy(path, tmp_path)
    manifest = checkpoints.read_manifest(tmp_path)
    for part in ("generator", "critic"):
        manifest["checkpoints"][f"smoke/datamons_gan_{part}"]["spec"]["data"] = "an-older-renderer"
    checkpoints.write_manifest(manifest, tmp_path)
    env = {**os.environ, checkpoints.DIR_ENV: str(tmp_path), "COURSE_TRAIN_STATE": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "course_lib", "train-checkpoints", "--profile", "smoke", "--warm-start",
                           "--only", "gan", "--no-progress"], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    item = checkpoints.entry("smoke/datamons_gan_generator", tmp_path)
    assert item["metrics"]["warm_start"]["from_data"] == "an-older-renderer"
    assert item["command"] == "python -m course_lib train-checkpoints --profile smoke --warm-start"
    cfg = config.load("smoke", 0)
    assert checkpoints.spec_difference(item["spec"], tc.recipes(cfg, progress=False)["gan"].spec) is None
    assert "frechet_distance" in item["metrics"]  # measured like any shipped GAN


def test_a_pair_of_the_same_network_and_data_is_what_training_on_continues_from(tmp_path):
    ship_pair(tmp_path, spec_for("renderer-2"))
    found = tc.warm_start_source("smoke/pair", spec_for("renderer-2"), ("generator", "critic"), tmp_path,
                                 same_data=True)
    assert found is not None and found["sha256"] == checkpoints.entry("smoke/pair_generator", tmp_path)["sha256"]
    for wanted in (spec_for("renderer-3"), spec_for("renderer-2", width=4)):  # other data, another network
        assert tc.warm_start_source("smoke/pair", wanted, ("generator", "critic"), tmp_path, same_data=True) is None


def test_the_smoke_gan_trains_on_from_its_own_shipped_pair_and_keeps_the_history(tmp_path, monkeypatch):
    monkeypatch.setenv(checkpoints.DIR_ENV, str(tmp_path))
    cfg = config.load("smoke", 0)
    cold = tc.recipes(cfg, progress=False)["gan"]
    assert cold.starts_from is None
    tf.keras.utils.set_random_seed(7)
    shipped = cold.build()
    earlier = {"from_data": "an-older-renderer", "generator_steps": 28000}
    for model, part in zip(shipped, cold.parts):
        checkpoints.save_weights(model, f"{cold.name}_{part}", profile="smoke", command="test", spec=cold.spec,
                                 metrics={"generator_steps": 3000, "seconds": 60.0, "warm_start": earlier})
    more = tc.recipes(cfg, progress=False, work_dir=tmp_path / "state", continue_shipped=True)["gan"]
    assert more.starts_from is not None
    assert more.planned == {"generator_steps": cfg.revealer.gan_warm_epochs * cfg.revealer.gan_steps_per_epoch}
    (generator, _), info = tc.obtain(more, retrain=True)
    start = info["metrics"]["warm_start"]
    assert start["from_data"] == cold.spec["data"] and start["generator_steps"] == 3000
    assert start["earlier"] == earlier  # the whole chain of trainings stays in the manifest
    own = tmp_path / "state" / "smoke" / f"datamons_gan_more_{start['from_sha256'][:12]}"
    assert own.is_dir() and more.state_dir == own  # the folder --fresh clears is the continuation's own
    from_scratch = tc.recipes(cfg, progress=False, work_dir=tmp_path / "state")["gan"]
    assert from_scratch.state_dir == own.with_name("datamons_gan")
    tf.keras.utils.set_random_seed(123)
    fresh = cold.build()[0]

    def distance(a, b):
        return sum(float(np.abs(x - y).sum()) for x, y in zip(a.get_weights(), b.get_weights()))

    assert distance(generator, shipped[0]) < 0.1 * distance(fresh, shipped[0])


def test_continuing_needs_a_shipped_pair_of_its_own_and_not_both_flags():
    cfg = config.load("smoke", 0)
    with pytest.raises(ValueError, match="not both"):
        tc.recipes(cfg, progress=False, warm_start=True, continue_shipped=True)
    for argv in (["--continue-shipped"], ["--continue-shipped", "--warm-start", "--only", "gan"],
                 ["--continue-shipped", "--only", "traits"]):
        with pytest.raises(SystemExit) as stop:
            tc.main(["--profile", "smoke", *argv, "--no-progress"])
        assert stop.value.code == 2


def test_the_command_trains_the_shipped_smoke_gan_on_and_ships_it(tmp_path):
    """`python -m course_lib train-checkpoints --profile smoke --continue-shipped --only gan`, run for real on a copy
    of the shipped checkpoints: new bytes, the old entry named as the start, the command recorded."""
    import shutil
    import subprocess
    import sys

    for path in checkpoints.checkpoint_dir().iterdir():
        shutil.copy(path, tmp_path)
    before = checkpoints.entry("smoke/datamons_gan_generator", tmp_path)
    env = {**os.environ, checkpoints.DIR_ENV: str(tmp_path), "COURSE_TRAIN_STATE": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "course_lib", "train-checkpoints", "--profile", "smoke",
                           "--continue-shipped", "--only", "gan", "--no-progress"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    item = checkpoints.entry("smoke/datamons_gan_generator", tmp_path)
    assert item["sha256"] != before["sha256"]
    assert item["metrics"]["warm_start"]["from_sha256"] == before["sha256"]
    assert item["command"] == "python -m course_lib train-checkpoints --profile smoke --continue-shipped --only gan"
    assert "frechet_distance" in item["metrics"]
    assert checkpoints.entry("smoke/datamons_inpainting_generator", tmp_path) == \
        checkpoints.entry("smoke/datamons_inpainting_generator")  # only the GAN named was touched
