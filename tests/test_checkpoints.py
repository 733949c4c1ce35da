"""Checkpoints load only when their bytes match the manifest; otherwise the course trains or refuses."""
import numpy as np
import pytest
import tensorflow as tf

from course_lib import checkpoints


def tiny_model(seed=0):
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=(4,)), tf.keras.layers.Dense(3)])


SPEC = {"arch": "tiny", "width": 3}


def test_save_then_load_gives_the_same_weights(tmp_path):
    model = tiny_model(0)
    item = checkpoints.save_weights(model, "smoke/tiny", profile="smoke", command="test", spec=SPEC,
                                    metrics={"test_acc": 0.5}, directory=tmp_path)
    assert item["sha256"] == checkpoints.sha256_file(tmp_path / item["file"])
    other = tiny_model(1)
    checkpoints.load_weights(other, "smoke/tiny", SPEC, directory=tmp_path)
    np.testing.assert_array_equal(other.get_weights()[0], model.get_weights()[0])
    assert checkpoints.read_manifest(tmp_path)["checkpoints"]["smoke/tiny"]["metrics"] == {"test_acc": 0.5}


def test_a_checkpoint_whose_bytes_do_not_match_the_manifest_is_refused(tmp_path):
    item = checkpoints.save_weights(tiny_model(), "smoke/tiny", profile="smoke", command="test", spec=SPEC,
                                    directory=tmp_path)
    path = tmp_path / item["file"]
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(checkpoints.CheckpointError, match="does not match its manifest"):
        checkpoints.load_weights(tiny_model(), "smoke/tiny", SPEC, directory=tmp_path)
    # load_or_train must refuse too, not silently retrain over a tampered file
    with pytest.raises(checkpoints.CheckpointError):
        checkpoints.load_or_train("smoke/tiny", tiny_model, lambda m: {}, spec=SPEC, directory=tmp_path)


def test_metrics_added_after_training_keep_the_bytes_and_refuse_a_tampered_file(tmp_path):
    item = checkpoints.save_weights(tiny_model(), "smoke/tiny", profile="smoke", command="test", spec=SPEC,
                                    metrics={"test_acc": 0.5}, directory=tmp_path)
    updated = checkpoints.add_metrics("smoke/tiny", {"frechet_distance": np.float32(1.25)}, directory=tmp_path)
    assert updated["metrics"] == {"test_acc": 0.5, "frechet_distance": 1.25}
    assert updated["sha256"] == item["sha256"] == checkpoints.sha256_file(tmp_path / item["file"])
    path = tmp_path / item["file"]
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(checkpoints.CheckpointError, match="does not match"):
        checkpoints.add_metrics("smoke/tiny", {"x": 1}, directory=tmp_path)


def test_missing_entry_and_other_architecture_are_refused(tmp_path):
    with pytest.raises(checkpoints.CheckpointError, match="not in the manifest"):
        checkpoints.verified_path("smoke/absent", directory=tmp_path)
    checkpoints.save_weights(tiny_model(), "smoke/tiny", profile="smoke", command="test", spec=SPEC, directory=tmp_path)
    with pytest.raises(checkpoints.CheckpointError, match="does not fit: spec field width"):
        checkpoints.load_weights(tiny_model(), "smoke/tiny", {"arch": "tiny", "width": 4}, directory=tmp_path)


def test_load_or_train_trains_when_absent_and_loads_when_present(tmp_path):
    calls = []

    def train(model):
        calls.append(1)
        return {"test_acc": 1.0}

    model, info = checkpoints.load_or_train("smoke/tiny", tiny_model, train, spec=SPEC, directory=tmp_path)
    assert info["source"] == "trained" and calls == [1]
    checkpoints.save_weights(model, "smoke/tiny", profile="smoke", command="test", spec=SPEC, directory=tmp_path)
    again, info = checkpoints.load_or_train("smoke/tiny", lambda: tiny_model(5), train, spec=SPEC, directory=tmp_path)
    assert info["source"] == "checkpoint" and calls == [1]
    np.testing.assert_array_equal(again.get_weights()[0], model.get_weights()[0])
    _, info = checkpoints.load_or_train("smoke/tiny", tiny_model, train, spec=SPEC, retrain=True, directory=tmp_path)
    assert info["source"] == "trained" and calls == [1, 1]


def test_every_shipped_checkpoint_matches_its_manifest():
    manifest = checkpoints.read_manifest()
    for name, item in manifest["checkpoints"].items():
        assert checkpoints.sha256_file(checkpoints.checkpoint_dir() / item["file"]) == item["sha256"], name
        assert {"command", "profile", "spec", "metrics"} <= set(item)


def test_smoke_profile_loads_every_revealer_network_from_the_shipped_checkpoints():
    """The notebook at smoke (tests, CI) must not train: every recipe finds its verified checkpoint."""
    from course_lib import config
    from course_lib import train_checkpoints as recipes

    cfg = config.load("smoke", 0)
    for key, recipe in recipes.recipes(cfg, progress=False).items():
        parts = [f"{recipe.name}_{p}" if p else recipe.name for p in recipe.parts]
        assert all(checkpoints.is_available(n, recipe.spec) for n in parts), key
    mn = recipes.mnist_splits(cfg)
    assert set(np.unique(mn.private_train[1])) == {0, 1, 2, 3, 4}  # digits 5-9, relabelled
    assert mn.public.shape[1:] == (32, 32, 1) and mn.private_test[0].shape[1:] == (32, 32, 1)


def test_a_checkpoint_not_used_is_announced_with_the_field_the_cost_and_the_way_out(tmp_path, monkeypatch, capsys):
    from course_lib import machine

    checkpoints.save_weights(tiny_model(), "smoke/tiny", profile="smoke", command="test", spec=SPEC,
                             metrics={"seconds": 240.0, "plain_sgd_step_seconds": 0.05}, directory=tmp_path)
    monkeypatch.setattr(machine, "plain_sgd_step_seconds", lambda: 0.025)  # a machine twice as fast
    calls = []
    checkpoints.load_or_train("smoke/tiny", tiny_model, lambda m: calls.append(1) or {}, spec={**SPEC, "width": 4},
                              directory=tmp_path)
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert calls == [1] and len(lines) == 1
    line = lines[0]
    assert "width (3 in the manifest, 4 here)" in line and "about 2 min on this machine" in line
    assert "RETRAIN=True" in line and "COURSE_NO_TRAINING=1" in line
    monkeypatch.setenv("COURSE_NO_TRAINING", "1")
    with pytest.raises(checkpoints.CheckpointError, match="shipped checkpoint not used"):
        checkpoints.load_or_train("smoke/tiny", tiny_model, lambda m: calls.append(1) or {},
                                  spec={**SPEC, "width": 4}, directory=tmp_path)
    assert calls == [1]  # refused before any training


def test_a_missing_checkpoint_file_is_named_before_training(tmp_path, monkeypatch, capsys):
    item = checkpoints.save_weights(tiny_model(), "smoke/tiny", profile="smoke", command="test", spec=SPEC,
                                    metrics={"seconds": 60.0}, directory=tmp_path)
    (tmp_path / item["file"]).unlink()
    from course_lib import machine

    monkeypatch.setattr(machine, "plain_sgd_step_seconds", lambda: 0.01)
    checkpoints.load_or_train("smoke/tiny", tiny_model, lambda m: {}, spec=SPEC, directory=tmp_path)
    out = capsys.readouterr().out
    assert f"its file {item['file']} is missing" in out and "1 min on the machine that made it" in out


def test_the_estimate_scales_with_the_planned_work(tmp_path, monkeypatch):
    from course_lib import machine

    checkpoints.save_weights(tiny_model(), "smoke/tiny", profile="smoke", command="test", spec=SPEC,
                             metrics={"seconds": 600.0, "plain_sgd_step_seconds": 0.02, "generator_steps": 2000},
                             directory=tmp_path)
    monkeypatch.setattr(machine, "plain_sgd_step_seconds", lambda: 0.02)
    assert checkpoints.training_estimate(["smoke/tiny"], tmp_path).startswith("about 10 min")
    assert checkpoints.training_estimate(["smoke/tiny"], tmp_path, {"generator_steps": 20000}).startswith("about 100 min")


@pytest.mark.parametrize("bad", ["../../outside.h5", "/tmp/outside.h5", "..", "sub/inner.h5"])
def test_a_manifest_entry_whose_file_leaves_the_folder_is_refused_and_nothing_outside_is_touched(tmp_path, bad):
    folder = tmp_path / "ckpt"
    checkpoints.save_weights(tiny_model(), "smoke/tiny", profile="smoke", command="test", spec=SPEC, directory=folder)
    victim = tmp_path / "outside.h5"
    victim.write_bytes(b"precious")
    manifest = checkpoints.read_manifest(folder)
    manifest["checkpoints"]["smoke/tiny"]["file"] = str(victim) if bad.startswith("/tmp") else bad
    checkpoints.write_manifest(manifest, folder)
    with pytest.raises(checkpoints.CheckpointError, match="manifest entry 'smoke/tiny' names file"):
        checkpoints.load_weights(tiny_model(), "smoke/tiny", SPEC, directory=folder)
    with pytest.raises(checkpoints.CheckpointError, match="not a plain file name"):
        checkpoints.save_weights(tiny_model(), "smoke/tiny", profile="smoke", command="test", spec=SPEC,
                                 directory=folder)
    assert victim.read_bytes() == b"precious"


def test_a_manifest_that_is_not_json_is_refused_in_one_sentence(tmp_path):
    (tmp_path / checkpoints.MANIFEST).write_text("{not json")
    with pytest.raises(checkpoints.CheckpointError, match="is not valid JSON .*restore it from git"):
        checkpoints.read_manifest(tmp_path)


def test_check_command_accepts_every_shipped_smoke_checkpoint_here():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "course_lib", "train-checkpoints", "--profile", "smoke", "--check"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    shipped = [name for name in checkpoints.read_manifest()["checkpoints"] if name.startswith("smoke/")]
    assert len(lines) == len(shipped) == 15 and all(line.endswith(": accepted") for line in lines), done.stdout
