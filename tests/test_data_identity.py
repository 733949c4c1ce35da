"""Shipped checkpoints are recognised on every CPU: the data identity ignores last-bit float noise, not real changes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_lib import checkpoints
from course_lib.data import datamons, identity

REPO = Path(__file__).resolve().parent.parent
_AVX512 = "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"
# numpy's run-time dispatch, as three different CPUs would choose it (names a CPU lacks are ignored by numpy).
DISPATCH = {
    "default": "",
    "AVX-512 off": _AVX512,
    "AVX, AVX2, FMA3 off": "AVX F16C FMA3 AVX2 " + _AVX512,
}

_PROBE = """
import json, sys
import numpy as np
from course_lib import config
from course_lib import train_checkpoints as tc
out = {}
for profile in ("smoke", "class"):
    cfg = config.load(profile, 0)
    out.update(tc.shipped_status(cfg))
    dm = tc.datamons_splits(cfg)
    np.savez(sys.argv[1] + "_" + profile + ".npz", train=dm.private_train.images, test=dm.private_test.images,
             public=dm.public.images)
print("STATUS " + json.dumps(out))
"""


def small_portraits(seed=0):
    return datamons.render(datamons.named_identities()[:4], 3, size=16, seed=seed)


def test_summary_ignores_noise_below_half_the_tolerance_and_sees_a_changed_render():
    p = small_portraits()
    base = identity.data_identity(p.images, p.labels, source="test")
    rng = np.random.default_rng(1)
    noisy = p.images + rng.uniform(-1, 1, p.images.shape).astype(np.float32) * identity.TOLERANCE / 2
    same = identity.data_identity(noisy, p.labels, source="test")
    assert same["data"] == base["data"]
    assert identity.summary_difference(base["data_summary"], same["data_summary"]) <= identity.TOLERANCE
    other_seed = small_portraits(seed=1)
    moved = identity.data_identity(other_seed.images, other_seed.labels, source="test")
    assert moved["data"] == base["data"]  # same counts and labels: only the pixel statistics can tell
    assert identity.summary_difference(base["data_summary"], moved["data_summary"]) > 100 * identity.TOLERANCE
    one_changed = p.images.copy()
    one_changed[0, 4:8, 4:8] = 1.0  # a small patch on one portrait of twelve
    changed = identity.data_identity(one_changed, p.labels, source="test")
    assert identity.summary_difference(base["data_summary"], changed["data_summary"]) > identity.TOLERANCE


def test_exact_part_follows_source_labels_and_shapes():
    p = small_portraits()
    base = identity.data_identity(p.images, p.labels, source="renderer 1")["data"]
    assert identity.data_identity(p.images, p.labels, source="renderer 2")["data"] != base
    assert identity.data_identity(p.images, p.labels[::-1].copy(), source="renderer 1")["data"] != base
    assert identity.data_identity(p.images[:-1], p.labels[:-1], source="renderer 1")["data"] != base
    with pytest.raises(ValueError, match="shape"):
        identity.summary(np.float32(1.0))


def test_spec_difference_names_the_field_and_applies_the_tolerance():
    spec = {"arch": "a", "width": 8, "data": "abc", "data_summary": [0.5, 0.25]}
    assert checkpoints.spec_difference(spec, {**spec, "data_summary": [0.5 + 4e-5, 0.25]}) is None
    off = checkpoints.spec_difference(spec, {**spec, "data_summary": [0.51, 0.25]})
    assert off.startswith("spec field data_summary") and "tolerance" in off
    assert "width (8 in the manifest, 16 here)" in checkpoints.spec_difference(spec, {**spec, "width": 16})
    two = checkpoints.spec_difference(spec, {**spec, "data": "xyz", "arch": "b"})
    assert "arch" in two and "data (abc in the manifest, xyz here)" in two


def test_every_shipped_checkpoint_is_accepted_under_three_numpy_cpu_paths(tmp_path):
    """Render the cast as three CPUs would (numpy dispatch settings) and check every checkpoint of both profiles."""
    renders, report = {}, {}
    for label, disabled in DISPATCH.items():
        stem = tmp_path / label.replace(" ", "_").replace(",", "")
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-c", _PROBE, str(stem)], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        status = json.loads(done.stdout.split("STATUS ", 1)[1])
        rejected = {name: why for name, why in status.items() if why is not None}
        assert not rejected, f"{label}: {rejected}"
        assert len(status) == len(checkpoints.read_manifest()["checkpoints"])
        renders[label] = {p: np.load(f"{stem}_{p}.npz") for p in ("smoke", "class")}
    for label in list(DISPATCH)[1:]:
        gap = max(float(np.max(np.abs(renders[label][p][k].astype(np.float64) - renders["default"][p][k])))
                  for p in ("smoke", "class") for k in ("train", "test", "public"))
        report[label] = gap
        assert gap <= identity.TOLERANCE / 2, f"{label}: renders differ by {gap:g}"
    print("largest absolute pixel difference from the default numpy dispatch:", report)
    out = REPO / "runs" / "cpu_paths.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"largest_abs_pixel_difference": report, "tolerance": identity.TOLERANCE}, indent=2))
