import numpy as np
import pytest

from course_lib import config


def test_every_section_has_the_same_keys_in_every_profile():
    for section, table in config.TABLE.items():
        assert set(table) == set(config.PROFILES), section
        keys = {profile: set(values) for profile, values in table.items()}
        assert keys["smoke"] == keys["class"] == keys["full"], f"section {section} differs across profiles: {keys}"


def test_auto_is_full_only_with_a_gpu_and_full_checkpoints_and_says_why(monkeypatch, capsys):
    monkeypatch.setattr(config, "gpu_available", lambda: False)
    assert config.resolve_profile("auto") == "class"
    assert capsys.readouterr().out.strip() == "profile auto -> class: TensorFlow sees no GPU"
    monkeypatch.setattr(config, "gpu_available", lambda: True)
    assert not config.full_checkpoints_shipped()  # none shipped today
    monkeypatch.setattr(config, "full_retraining_estimate", lambda: "about 9 hours here")
    assert config.resolve_profile("auto") == "class"
    said = capsys.readouterr().out
    assert "no full-profile checkpoints are shipped" in said and said.strip().endswith("first, about 9 hours here")
    monkeypatch.setattr(config, "full_checkpoints_shipped", lambda: True)
    assert config.resolve_profile("auto") == "full"
    assert config.resolve_profile("smoke") == "smoke" and capsys.readouterr().out.count("\n") == 1


def test_unknown_profile_is_refused_with_the_choices():
    with pytest.raises(config.ConfigError, match="smoke, class, full, auto"):
        config.load("fast")


def test_load_gives_attribute_access_and_refuses_unknown_names():
    cfg = config.load("smoke", seed=3)
    assert cfg.profile == "smoke" and cfg.seed == 3
    with pytest.raises(AttributeError, match="no section 'nope'"):
        cfg.nope
    with pytest.raises(config.ConfigError, match="no setting 'not_a_setting'"):
        config.load("smoke", overrides={"dp_sgd": {"not_a_setting": 1}})
    with pytest.raises(config.ConfigError, match="unknown config section"):
        config.load("smoke", overrides={"nope": {}})


def test_overrides_change_one_value_only():
    section, values = next((s, v["smoke"]) for s, v in config.TABLE.items() if v["smoke"])
    key = next(iter(values))
    cfg = config.load("smoke", overrides={section: {key: "changed"}})
    assert getattr(cfg, section)[key] == "changed"
    assert config.TABLE[section]["smoke"][key] != "changed"


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed_is_refused(seed):
    with pytest.raises(config.ConfigError, match="SEED must be a non-negative integer"):
        config.load("smoke", seed=seed)


def test_same_seed_same_numbers():
    import tensorflow as tf

    config.seed_everything(7)
    first = (np.random.rand(3), tf.random.uniform((3,)).numpy())
    config.seed_everything(7)
    second = (np.random.rand(3), tf.random.uniform((3,)).numpy())
    config.seed_everything(8)
    third = np.random.rand(3)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], third)


def test_require_positive():
    config.require_positive("batch_size", 4, integer=True)
    with pytest.raises(config.ConfigError, match="batch_size must be a positive integer"):
        config.require_positive("batch_size", 2.5, integer=True)
    with pytest.raises(config.ConfigError, match="learning_rate must be positive"):
        config.require_positive("learning_rate", 0.0)
    with pytest.raises(config.ConfigError, match="noise_multiplier must be zero or positive"):
        config.require_non_negative("noise_multiplier", -0.1)


def test_the_full_retraining_estimate_scales_the_shipped_class_times():
    from course_lib import checkpoints

    revealer = config.TABLE["revealer"]
    # the shipped class entries, and the same on a machine twice as slow: twice the time
    here = checkpoints.profile_retraining_estimate(revealer["full"], revealer["class"], step_here=None)
    assert here.startswith("about ") and here.endswith("hours here, scaled from the class checkpoints' training times")
    hours = float(here.split()[1])
    assert hours >= 1, "64x64 portraits, wider and longer GAN training: hours, not minutes"
    steps = {m.get("plain_sgd_step_seconds") for m in
             (i.get("metrics", {}) for i in checkpoints.read_manifest()["checkpoints"].values())} - {None}
    slower = checkpoints.profile_retraining_estimate(revealer["full"], revealer["class"], step_here=2 * max(steps))
    assert float(slower.split()[1]) >= 1.5 * hours
    assert "unknown" in checkpoints.profile_retraining_estimate(revealer["full"], revealer["class"],
                                                                source_profile="nothing")
