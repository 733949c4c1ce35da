"""bench/target_on_prior.py runs end to end at smoke on the shipped smoke checkpoints and prints a row per target and
pool, with distances a 7-trait code can have."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_target_on_prior_prints_both_pools_for_both_targets():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "target_on_prior.py"), "--profile", "smoke",
                          "--pool", "300"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = re.findall(r"^(target_\w+)\s+(GAN|renders)\s+([\d.]+)\s+([\d.]+)", out.stdout, flags=re.M)
    assert {(t, p) for t, p, *_ in rows} == {(t, p) for t in ("target_resnet", "target_small")
                                             for p in ("GAN", "renders")}
    for _, _, off, right in rows:
        assert 0 <= float(off) <= 7 and abs(float(right) - (1 - float(off) / 7)) < 1e-3
