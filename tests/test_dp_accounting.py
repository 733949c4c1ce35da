"""The course's accountant agrees with TF Privacy's statement on the tutorial table, and catches the microbatching trap."""
import pytest

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
        assert ours[kind] == pytest.approx(theirs, abs=0.0005)  # the statement prints 3 decimals


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
