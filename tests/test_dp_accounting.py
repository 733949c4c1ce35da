"""The course's accountant agrees with TF Privacy's statement on the tutorial table, and catches the microbatching trap;
it answers every finite question quickly with a valid bound, refuses non-finite ones, and warns when delta >= 1/n."""
import math
import time

import dp_accounting
import pytest
from dp_accounting.rdp import rdp_privacy_accountant

from course_lib.config import ConfigError
from course_lib.dp import accounting

# TF Privacy MNIST tutorial rows (REFERENCE.md): sigma, epochs, RDP epsilon, PLD epsilon; batch 256, n 60000, delta 1e-5.
TUTORIAL_ROWS = [(1.3, 15, 0.96, 0.87), (1.1, 60, 2.60, 2.38), (0.7, 45, 6.32, 5.64)]


@pytest.mark.parametrize("sigma, epochs, rdp, pld", TUTORIAL_ROWS)
def test_tutorial_rows_match_reference_and_tf_privacy(sigma, epochs, rdp, pld):
    ours = accounting.epsilons(sigma, 256, 60000, epochs, 1e-5)
    # REFERENCE.md rounds to 2 decimals (row 1 reads 0.96/0.87 for 0.9546/0.8646): agree within 0.01
    assert ours["rdp"] == pytest.approx(rdp, abs=0.01)
    assert ours["pld"] == pytest.approx(pld, abs=0.01)
    for kind in ("rdp", "pld"):
        theirs = accounting.tf_privacy_epsilon(sigma, 256, 60000, epochs, 1e-5, accountant=kind)
        # the statement prints 3 decimals; our PLD grid is capped for speed (accounting._pld_interval), which makes
        # it a slightly larger upper bound: +0.0013 at sigma 0.7 (5.6410 against 5.6397 on dp_accounting's grid)
        slack = 0.0005 if kind == "rdp" else 0.002
        assert theirs - 0.0005 <= ours[kind] <= theirs + slack


def test_used_microbatching_trap_gives_a_larger_epsilon():
    right = accounting.tf_privacy_epsilon(1.1, 256, 60000, 60, 1e-5, used_microbatching=False)
    trap = accounting.tf_privacy_epsilon(1.1, 256, 60000, 60, 1e-5, used_microbatching=True)
    assert trap > 3 * right  # 16.38 vs 2.60 in REFERENCE.md
    assert trap == pytest.approx(16.38, abs=0.05)
    ours = accounting.epsilon(1.1, 256, 60000, epochs=60, accountant="rdp", used_microbatching=True)
    assert ours == pytest.approx(trap, abs=0.0005)


def test_pld_is_tighter_than_rdp_and_epsilon_grows_with_epochs():
    short = accounting.epsilons(1.1, 256, 60000, 5)
    long = accounting.epsilons(1.1, 256, 60000, 50)
    assert short["pld"] < short["rdp"] and long["pld"] < long["rdp"]
    assert long["pld"] > short["pld"]


def test_steps_and_epochs_give_the_same_epsilon():
    steps = accounting.steps_for(15, 256, 60000)
    assert steps == 3516
    assert accounting.epsilon(1.3, 256, 60000, steps=steps, accountant="rdp") == accounting.epsilon(
        1.3, 256, 60000, epochs=15, accountant="rdp"
    )


def test_noise_for_epsilon_round_trips():
    sigma = accounting.noise_for_epsilon(2.0, 256, 60000, 10, accountant="rdp")
    assert accounting.epsilon(sigma, 256, 60000, epochs=10, accountant="rdp") == pytest.approx(2.0, abs=0.01)
    assert accounting.noise_for_epsilon(1.0, 256, 60000, 10, accountant="rdp") > sigma


def test_statement_names_both_epsilons():
    line = accounting.statement(1.3, 256, 60000, 15)
    assert "0.86 [PLD]" in line and "0.95 [RDP]" in line and "delta = 1e-05" in line and "\n" not in line


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(noise_multiplier=-1.0), "noise_multiplier"),
        (dict(noise_multiplier=0.0), "noise_multiplier"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=70000), "exceed"),
        (dict(delta=1.5), "delta"),
        (dict(accountant="moments"), "accountant"),
        (dict(epochs=None), "exactly one"),
    ],
)
def test_bad_input_is_refused_in_one_sentence(kwargs, words):
    args = dict(noise_multiplier=1.0, batch_size=256, dataset_size=60000, epochs=1, delta=1e-5, accountant="rdp")
    args.update(kwargs)
    with pytest.raises(ConfigError, match=words):
        accounting.epsilon(args.pop("noise_multiplier"), args.pop("batch_size"), args.pop("dataset_size"), **args)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(noise_multiplier=math.inf), "noise_multiplier must be a finite number"),
        (dict(noise_multiplier=math.nan), "noise_multiplier must be a finite number"),
        (dict(delta=math.nan), "delta must be a finite number"),
        (dict(delta=math.inf), "delta must be a finite number"),
        (dict(epochs=math.inf), "epochs must be a finite number"),
        (dict(batch_size=math.inf), "batch_size must be a positive integer"),
        (dict(epochs=None, steps=math.inf), "steps must be a positive integer"),
    ],
)
def test_non_finite_input_is_refused_in_one_sentence(kwargs, words):
    args = dict(noise_multiplier=1.0, batch_size=256, dataset_size=60000, epochs=1, delta=1e-5)
    args.update(kwargs)
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=words):
        accounting.epsilon(args.pop("noise_multiplier"), args.pop("batch_size"), args.pop("dataset_size"), **args)
    assert time.perf_counter() - start < 1.0  # noise inf used to run for minutes


def test_non_finite_target_epsilon_is_refused():
    with pytest.raises(ConfigError, match="target_epsilon must be a finite number"):
        accounting.noise_for_epsilon(math.inf, 256, 60000, 1)


# Finite questions where dp_accounting alone hung, took seconds to minutes, or failed (accounting.py says which).
EXTREME = [
    dict(noise_multiplier=1e6, batch_size=256, dataset_size=60000, epochs=15),  # RDP ValueError (0.4.3)
    dict(noise_multiplier=1e6, batch_size=256, dataset_size=60000, epochs=15, delta=1e-300),
    dict(noise_multiplier=1e200, batch_size=256, dataset_size=60000, epochs=1),  # OverflowError
    dict(noise_multiplier=1e-300, batch_size=256, dataset_size=60000, epochs=1),  # ZeroDivisionError
    dict(noise_multiplier=1e-3, batch_size=256, dataset_size=60000, steps=10**7),  # PLD MemoryError
    dict(noise_multiplier=0.3, batch_size=256, dataset_size=60000, epochs=15),  # PLD 16 s
    dict(noise_multiplier=1.0, batch_size=60000, dataset_size=60000, epochs=15),  # q = 1
    dict(noise_multiplier=1.0, batch_size=256, dataset_size=60000, epochs=15, delta=1e-300),  # PLD inf
    dict(noise_multiplier=1.0, batch_size=256, dataset_size=60000, steps=10**9),  # PLD hung
    dict(noise_multiplier=10.0, batch_size=256, dataset_size=60000, steps=10**8),  # size ** steps as an integer
    dict(noise_multiplier=1e4, batch_size=30000, dataset_size=60000, epochs=15, delta=1e-12),  # RDP 7-12 s (0.4.3)
    dict(noise_multiplier=100.0, batch_size=1, dataset_size=10**6, epochs=3, delta=1e-12),  # RDP ValueError (0.4.3)
]


@pytest.mark.parametrize("question", EXTREME, ids=lambda q: ",".join(f"{k}={v:g}" for k, v in q.items()))
def test_every_finite_question_gets_a_quick_valid_answer(question):
    args = {"delta": 1e-5, **question}
    sigma, batch, n = args.pop("noise_multiplier"), args.pop("batch_size"), args.pop("dataset_size")
    answers = {}
    for kind in accounting.ACCOUNTANTS:
        start = time.perf_counter()
        answers[kind] = accounting.epsilon(sigma, batch, n, accountant=kind, **args)
        assert time.perf_counter() - start < 5.0  # about a second here; a hang guard, not a benchmark
        assert answers[kind] >= 0 and not math.isnan(answers[kind])
    assert answers["pld"] <= answers["rdp"]


def test_huge_noise_answers_zero_and_tiny_noise_infinity():
    assert accounting.epsilon(1e6, 256, 60000, epochs=15) == 0.0  # provably (0, 1e-5)-DP: an exact answer
    assert accounting.epsilon(1e-300, 256, 60000, epochs=1) == math.inf


def test_exact_integer_orders_match_dp_accounting():
    """The RDP used beyond noise 1e3 (or when dp_accounting fails) is dp_accounting's own at its integer orders."""
    orders = [a for a in rdp_privacy_accountant.DEFAULT_RDP_ORDERS if a >= 2 and float(a).is_integer()]
    for sigma, q, steps, delta in [(0.8, 0.01, 3516, 1e-5), (5.0, 0.5, 100, 1e-8), (300.0, 1.0, 10, 1e-5)]:
        event = dp_accounting.SelfComposedDpEvent(
            dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
        theirs = dp_accounting.rdp.RdpAccountant(orders=orders).compose(event).get_epsilon(delta)
        assert accounting._stable_integer_rdp(sigma, q, steps, delta) == pytest.approx(theirs, rel=1e-6)


def test_capped_pld_grid_stays_a_slightly_larger_upper_bound():
    """Noise 1.3 needs 24,000 grid points a step on dp_accounting's grid; the course caps it at 15,000."""
    event = accounting.dp_sgd_event(1.3, 256, 60000, accounting.steps_for(15, 256, 60000))
    default = dp_accounting.pld.PLDAccountant().compose(event).get_epsilon(1e-5)
    ours = accounting.epsilon(1.3, 256, 60000, epochs=15)
    assert default <= ours <= default + 1e-3


def test_delta_warning_is_one_sentence_shared_with_the_statement():
    assert accounting.delta_warning(1e-5, 60000) is None
    warning = accounting.delta_warning(1e-3, 1000)  # delta = 1/n exactly
    assert warning.startswith("delta >= 1/n: ") and warning.endswith(".") and "\n" not in warning
    assert "1/n = 0.001" in warning and "1e-04" in warning
    assert warning in accounting.statement(1.3, 256, 1000, 1, delta=1e-3)
    assert "delta >= 1/n" not in accounting.statement(1.3, 256, 60000, 1, delta=1e-5)
    assert accounting.epsilon(1.0, 256, 1000, epochs=1, delta=0.5) == 0.0  # why delta >= 1/n says nothing
