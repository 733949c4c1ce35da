"""Query limits and less informative answers, measured against notebook 01's black-box attacks.

Model extraction and membership inference need only a prediction API. Here they run THROUGH the course's real
prediction service (``api.serve_in_background`` + ``client.ServiceClient.query`` as the attack's query function), so
the service's per-key budget and its output policy (``probs``, ``rounded``, ``labels``) are what the attacker meets.
The attacks are notebook 01's (``attacks.extraction``, ``attacks.membership``); this module only wires them to the
service and collects the numbers notebook 04 records (``extraction_vs_budget``, ``mia_vs_output``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from course_lib import config
from course_lib.defenses import outputs
from course_lib.defenses.api import serve_in_background
from course_lib.defenses.client import BudgetExhausted, ServiceClient

DEFENSE_OUTPUTS = ("probs", "rounded", "labels")
ATTACKER_KEY = "attacker"
# One budget for the whole experiment: the service's sliding window is longer than any run of the course.
WINDOW_SECONDS = 24 * 3600.0


@dataclass
class Collected:
    """What an attacker obtained from a service before it said no: the answers, and whether it was refused."""

    answers: np.ndarray | None  # (n, classes) probabilities or (n,) labels; None when nothing was answered
    refused: bool
    refusal: str | None = None

    @property
    def n(self) -> int:
        return 0 if self.answers is None else len(self.answers)


def _require_policy(output: str) -> None:
    if output not in DEFENSE_OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(DEFENSE_OUTPUTS)}, got {output!r}")


def collect_until_refused(query: Callable[[np.ndarray], np.ndarray], pool: np.ndarray, *, chunk: int = 512) -> Collected:
    """Send ``pool`` to ``query`` chunk by chunk and keep every answer obtained until the budget runs out.

    A refusal (``BudgetExhausted``) is the defence working, not an error: the answers received so far, including
    the part of the refused chunk that still fitted, are returned with ``refused=True``.
    """
    config.require_positive("chunk", chunk, integer=True)
    if len(pool) == 0:
        raise ValueError("the attacker's pool is empty: give it at least one input to query")
    answers: list[np.ndarray] = []
    for start in range(0, len(pool), chunk):
        try:
            answers.append(np.asarray(query(pool[start : start + chunk])))
        except BudgetExhausted as refused:
            if refused.partial is not None and len(refused.partial):
                answers.append(np.asarray(refused.partial))
            return Collected(np.concatenate(answers) if answers else None, True, refused.message)
    return Collected(np.concatenate(answers), False)


def served(model: Any, budget: int, output: str, *, decimals: int = 2, input_shape: tuple[int, ...] | None = None):
    """The prediction service of ``model`` with one attacker key allowed ``budget`` examples (a context manager)."""
    config.require_positive("budget", budget, integer=True)
    return serve_in_background(model, keys={ATTACKER_KEY: int(budget)}, window_seconds=WINDOW_SECONDS, output=output,
                               decimals=decimals, input_shape=input_shape)


# --------------------------------------------------------------------------------------------------------------------
# Model extraction against the query budget and the output format
# --------------------------------------------------------------------------------------------------------------------
@dataclass
class ExtractionRun:
    """One output policy: fidelity at each budget, plus what the attack cost and whether the limit stopped it."""

    output: str
    points: list[dict[str, Any]]  # [{"budget", "output", "fidelity"}]
    queries: int  # examples the service answered
    refused: bool  # the service refused the attacker's further queries
    query_seconds: float
    train_seconds: float

    @property
    def seconds(self) -> float:
        return self.query_seconds + self.train_seconds


def extraction_through_service(
    model: Any,
    pool: np.ndarray,
    budgets: Sequence[int],
    *,
    output: str,
    eval_x: np.ndarray,
    eval_victim_labels: np.ndarray,
    n_classes: int = 10,
    steps: int = 300,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    decimals: int = 2,
    seed: int = 0,
    input_shape: tuple[int, ...] | None = None,
    make_student: Callable | None = None,
) -> ExtractionRun:
    """Serve ``model`` with an attacker key limited to ``max(budgets)`` examples, let the attacker ask for its whole
    ``pool`` (larger than the limit: it is refused once the budget is spent), then train notebook 01's copy on the
    first ``b`` answers for every budget ``b`` and measure fidelity on ``eval_x``.

    An attacker allowed ``b`` queries would have received exactly these first ``b`` answers (the service is
    deterministic), so one run of the service serves every budget.
    """
    from course_lib.attacks import extraction

    budgets = sorted({int(b) for b in budgets})
    if not budgets or budgets[0] < 1:
        raise ValueError(f"budgets must be positive query counts, got {list(budgets)}")
    _require_policy(output)
    if len(pool) < budgets[-1]:
        raise ValueError(f"the attacker's pool holds {len(pool)} inputs, fewer than the largest budget {budgets[-1]}")
    started = time.perf_counter()
    with served(model, budgets[-1], output, decimals=decimals, input_shape=input_shape) as service, \
            ServiceClient(service.url, ATTACKER_KEY) as client:
        got = collect_until_refused(client.query, pool)
        answered = int(service.usage(ATTACKER_KEY)["used"])
    query_seconds = time.perf_counter() - started
    if got.n < budgets[-1]:
        raise RuntimeError(f"the service answered {got.n} queries, fewer than the budget of {budgets[-1]} it grants")
    answers = got.answers
    if output == "rounded":
        # The attacker renormalises rounded rows (they no longer sum to 1), so each stays a distribution to imitate.
        answers = answers / np.maximum(answers.sum(axis=1, keepdims=True), 1e-12)
    student_kwargs = {} if make_student is None else {"make_student": make_student}
    points, started = [], time.perf_counter()
    for budget in budgets:
        student = extraction.train_copy(pool[:budget], answers[:budget], n_classes, steps=steps,
                                        batch_size=batch_size, learning_rate=learning_rate, seed=seed, **student_kwargs)
        points.append({"budget": budget, "output": output,
                       "fidelity": extraction.fidelity(student, eval_x, eval_victim_labels)})
    return ExtractionRun(output, points, answered, got.refused, query_seconds, time.perf_counter() - started)


def extraction_vs_budget(model: Any, pool: np.ndarray, budgets: Sequence[int], *,
                         policies: Sequence[str] = DEFENSE_OUTPUTS, progress: bool = True,
                         **kwargs: Any) -> list[ExtractionRun]:
    """``extraction_through_service`` once per output policy (one fresh service each)."""
    from course_lib.progress import bar

    kinds = list(policies)
    return [extraction_through_service(model, pool, budgets, output=kind, **kwargs)
            for kind in (bar(kinds, desc="extraction via the API") if progress else kinds)]


def flat_points(runs: Sequence[ExtractionRun]) -> list[dict[str, Any]]:
    """Every run's points in one list: the ``extraction_vs_budget`` result of RESULTS.md."""
    return [point for run in runs for point in run.points]


# --------------------------------------------------------------------------------------------------------------------
# Membership inference against the output format
# --------------------------------------------------------------------------------------------------------------------
@dataclass
class MembershipRun:
    output: str
    auc: float
    advantage: float
    best_attack: str
    queries: int
    seconds: float
    roc: tuple[np.ndarray, np.ndarray] = field(repr=False, default=None)


def membership_through_service(
    model: Any,
    members: tuple[np.ndarray, np.ndarray],
    non_members: tuple[np.ndarray, np.ndarray],
    *,
    output: str,
    n_classes: int = 10,
    decimals: int = 2,
    input_shape: tuple[int, ...] | None = None,
    attacks: Sequence[str] = ("threshold", "logistic_regression"),
) -> MembershipRun:
    """Notebook 01's membership attack (TF Privacy's) with the service as the query function.

    Label answers become one-hot rows (``outputs.as_probability_matrix``): the loss attack then only sees "right or
    wrong", the label-only attack of Yeom et al. The key's budget is exactly the candidates the attacker scores.
    """
    from course_lib.attacks import membership

    _require_policy(output)
    budget = len(members[0]) + len(non_members[0])
    started = time.perf_counter()
    with served(model, budget, output, decimals=decimals, input_shape=input_shape) as service, \
            ServiceClient(service.url, ATTACKER_KEY) as client:
        def query(x: np.ndarray) -> np.ndarray:
            return outputs.as_probability_matrix(client.query(x), n_classes)

        result = membership.membership_attack(query, members, non_members, attacks=attacks)
        answered = int(service.usage(ATTACKER_KEY)["used"])
    return MembershipRun(output, result.auc, result.advantage, result.best_attack, answered,
                         time.perf_counter() - started, (result.fpr, result.tpr))


def mia_vs_output(model: Any, members: tuple[np.ndarray, np.ndarray], non_members: tuple[np.ndarray, np.ndarray], *,
                  policies: Sequence[str] = DEFENSE_OUTPUTS, **kwargs: Any) -> list[MembershipRun]:
    """``membership_through_service`` once per output policy."""
    return [membership_through_service(model, members, non_members, output=kind, **kwargs) for kind in policies]


def mia_points(runs: Sequence[MembershipRun]) -> list[dict[str, Any]]:
    """The ``mia_vs_output`` result of RESULTS.md."""
    return [{"output": run.output, "auc": run.auc} for run in runs]


# --------------------------------------------------------------------------------------------------------------------
# Membership inference against the query budget
# --------------------------------------------------------------------------------------------------------------------
@dataclass
class MembershipBudgetRun:
    """One output policy: the membership AUC over ALL candidates at each budget, and what the service allowed."""

    output: str
    points: list[dict[str, Any]]  # [{"budget", "output", "auc", "tested"}]
    queries: int
    refused: bool
    seconds: float


def membership_vs_budget(
    model: Any,
    members: tuple[np.ndarray, np.ndarray],
    non_members: tuple[np.ndarray, np.ndarray],
    budgets: Sequence[int],
    *,
    output: str,
    n_classes: int = 10,
    decimals: int = 2,
    input_shape: tuple[int, ...] | None = None,
    seed: int = 0,
) -> MembershipBudgetRun:
    """The loss-threshold membership attack through a service whose attacker key allows ``max(budgets)`` queries.

    A budget does not make an answer less informative: it caps how many candidate records the attacker can test.
    The attacker queries the candidates in a random order until refused; for every budget ``b`` it scores the first
    ``b`` by their loss (TF Privacy's ``log_loss``, as its threshold attack does) and must guess blindly for the rest
    (they all get the median score). The AUC is measured over every candidate, tested or not, so it falls towards
    0.5 as the budget covers fewer of them. As in ``extraction_through_service``, one run serves every budget.
    """
    from sklearn.metrics import roc_auc_score
    from tensorflow_privacy.privacy.privacy_tests.utils import log_loss

    _require_policy(output)
    (x_in, y_in), (x_out, y_out) = members, non_members
    x = np.concatenate([np.asarray(x_in), np.asarray(x_out)])
    y = np.concatenate([np.asarray(y_in), np.asarray(y_out)]).astype(np.int64)
    is_member = np.concatenate([np.ones(len(x_in), bool), np.zeros(len(x_out), bool)])
    budgets = sorted({int(b) for b in budgets})
    if not budgets or budgets[0] < 1:
        raise ValueError(f"budgets must be positive query counts, got {list(budgets)}")
    if budgets[-1] > len(x):
        raise ValueError(f"the largest budget {budgets[-1]} exceeds the {len(x)} candidates the attacker holds")
    order = np.random.default_rng(seed).permutation(len(x))  # the attacker's order of testing
    started = time.perf_counter()
    with served(model, budgets[-1], output, decimals=decimals, input_shape=input_shape) as service, \
            ServiceClient(service.url, ATTACKER_KEY) as client:
        got = collect_until_refused(client.query, x[order], chunk=128)
        answered = int(service.usage(ATTACKER_KEY)["used"])
    if got.n < budgets[-1]:
        raise RuntimeError(f"the service answered {got.n} queries, fewer than the budget of {budgets[-1]} it grants")
    probs = outputs.as_probability_matrix(got.answers, n_classes).astype(np.float64)
    score = -log_loss(y[order[: got.n]], probs)  # low loss = seen in training
    points = []
    for budget in budgets:
        scores = np.full(len(x), np.median(score[:budget]))
        scores[order[:budget]] = score[:budget]
        points.append({"budget": budget, "output": output, "auc": float(roc_auc_score(is_member, scores)),
                       "tested": budget / len(x)})
    return MembershipBudgetRun(output, points, answered, got.refused, time.perf_counter() - started)


def mia_vs_budget(model: Any, members: tuple[np.ndarray, np.ndarray], non_members: tuple[np.ndarray, np.ndarray],
                  budgets: Sequence[int], *, policies: Sequence[str] = DEFENSE_OUTPUTS,
                  **kwargs: Any) -> list[MembershipBudgetRun]:
    """``membership_vs_budget`` once per output policy (one fresh service each)."""
    return [membership_vs_budget(model, members, non_members, budgets, output=kind, **kwargs) for kind in policies]
