"""A query-limited prediction service: the "API access" defence of notebook 04, as a real HTTP server.

Black-box attacks (model extraction, label-only membership inference, black-box inversion) need many queries. A
service that hands out API keys, counts every example each key sends over a sliding time window and answers with less
information (rounded probabilities, labels only) raises their cost. This module serves any course model that way:

* ``PredictionService``: the HTTP-free core (input validation, per-key budgets, output hardening, query log);
* ``create_app``: a Flask app exposing it (``POST /predict``, ``GET /usage``, ``GET /health``);
* ``serve_in_background``: the app on 127.0.0.1 behind waitress (several worker threads) in a background thread,
  returning a ``Service`` that a notebook stops (or uses as a context manager).

What the service promises: a client is charged only for answers it gets (a failure of the model or of the query log
is refunded, and so is a request that ``stop()`` abandons); the log, in memory and on disk, stays bounded whatever
clients send; idle or trickling connections are dropped after a few seconds, so they cannot lock others out.

Flask and waitress do the HTTP; only the budget bookkeeping is written by hand here, because neither offers it.
"""
from __future__ import annotations

import http
import json
import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from course_lib.defenses import outputs

LOGGER = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
DEFAULT_MAX_BATCH = 256
# A JSON number of a float32 pixel takes at most ~25 characters ("0.0039215688593685627, ").
_BYTES_PER_NUMBER = 32
_STOP_TIMEOUT_SECONDS = 5.0
# After stop()'s timeout, requests already logged (so charged) get this long to finish writing their answers.
_ANSWER_GRACE_SECONDS = 1.0
DEFAULT_MAX_LOG_ENTRIES = 10_000
DEFAULT_MAX_LOG_BYTES = 10 * 2**20  # per file: the log and one rotated copy, so at most twice this on disk
DEFAULT_IDLE_TIMEOUT_SECONDS = 5
_MAX_CONNECTIONS = 1000
# Request text echoed in an error (a field name, say) is clipped: a 65 KB name must not come back or fill the log.
_ECHO_CHARS = 40
_MAX_MESSAGE_CHARS = 300
# A model may overflow to NaN or infinity on inputs far outside any data range; such inputs are the client's doing.
_EXTREME_INPUT = 1e6
_STOPPED_MESSAGE = "the service stopped before this request finished; it was not charged"


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was, so errors and log entries stay small."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class ApiError(Exception):
    """A request the service refuses: the HTTP status, a one-sentence reason and optional extra headers."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        message = _clip(message, _MAX_MESSAGE_CHARS)  # a last bound: anything echoed should be clipped before
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


# --------------------------------------------------------------------------------------------------------------------
# Per-key query budget over a sliding window (written by hand: neither Flask nor waitress meters usage).
# --------------------------------------------------------------------------------------------------------------------
@dataclass
class _Spend:
    time: float
    n: int


@dataclass
class _Account:
    budget: int
    spends: deque = field(default_factory=deque)
    used: int = 0


class QueryBudget:
    """Each key may send at most ``budget`` examples in any ``window_seconds`` (a sliding window, so no burst at a
    window boundary doubles the allowance). Thread-safe: checking and spending happen under one lock, so concurrent
    requests can never overspend. ``clock`` is injectable so tests can move time by hand."""

    def __init__(self, budgets: Mapping[str, int], window_seconds: float, clock: Callable[[], float] = time.monotonic):
        if not budgets:
            raise ValueError("keys is empty: give at least one API key and its query budget, e.g. {'alice': 1000}")
        for key, budget in budgets.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"API keys must be non-empty strings, got {key!r}")
            if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
                raise ValueError(f"the budget of key {key!r} must be a positive integer of examples, got {budget!r}")
        if isinstance(window_seconds, bool) or not isinstance(window_seconds, (int, float)) or not window_seconds > 0:
            raise ValueError(f"window_seconds must be a positive number, got {window_seconds!r}")
        if not math.isfinite(window_seconds):
            raise ValueError(f"window_seconds must be finite, got {window_seconds!r}")
        self.window_seconds = float(window_seconds)
        self._clock = clock
        self._accounts = {key: _Account(int(budget)) for key, budget in budgets.items()}
        self._lock = threading.Lock()

    def knows(self, key: str | None) -> bool:
        return key in self._accounts

    def budget(self, key: str) -> int:
        return self._account(key).budget

    def spend(self, key: str, n: int) -> _Spend:
        """Charge ``n`` examples to ``key`` or raise ``ApiError`` 429 (with Retry-After) when they do not fit."""
        account = self._account(key)
        if n > account.budget:
            raise ApiError(
                413, f"a batch of {n} examples can never fit this key's budget of {account.budget} per "
                     f"{self.window_seconds:g} s window; send smaller batches"
            )
        with self._lock:
            now = self._clock()
            self._expire(account, now)
            if account.used + n > account.budget:
                wait = self._seconds_until_fits(account, n, now)
                raise ApiError(
                    429,
                    f"query budget exhausted: {account.used} of {account.budget} examples used in the last "
                    f"{self.window_seconds:g} s; retry in {wait:.2f} s",
                    {"Retry-After": str(max(1, math.ceil(wait)))},
                )
            spend = _Spend(now, n)
            account.spends.append(spend)
            account.used += n
            return spend

    def refund(self, key: str, spend: _Spend) -> None:
        """Give back a spend whose answer could not be produced (a server-side failure is not the client's cost)."""
        account = self._account(key)
        with self._lock:
            for i, kept in enumerate(account.spends):
                if kept is spend:
                    del account.spends[i]
                    account.used -= spend.n
                    return

    def usage(self, key: str) -> dict[str, Any]:
        """``budget``, ``used``, ``remaining`` (examples) and ``window_seconds`` for ``key`` right now."""
        account = self._account(key)
        with self._lock:
            self._expire(account, self._clock())
            used = account.used
        return {"budget": account.budget, "used": used, "remaining": account.budget - used,
                "window_seconds": self.window_seconds}

    def _account(self, key: str) -> _Account:
        try:
            return self._accounts[key]
        except KeyError:
            raise ValueError(f"unknown API key {key!r}") from None

    def _expire(self, account: _Account, now: float) -> None:
        while account.spends and account.spends[0].time <= now - self.window_seconds:
            account.used -= account.spends.popleft().n

    def _seconds_until_fits(self, account: _Account, n: int, now: float) -> float:
        used = account.used
        for spend in account.spends:  # oldest first: the order in which they leave the window
            used -= spend.n
            if used + n <= account.budget:
                return max(0.0, spend.time + self.window_seconds - now)
        return self.window_seconds  # unreachable while n <= budget; a safe answer anyway


# --------------------------------------------------------------------------------------------------------------------
# The model behind the service: any callable x -> logits, an object with predict_logits, or a Keras model.
# --------------------------------------------------------------------------------------------------------------------
class NonFiniteLogits(RuntimeError):
    """The model answered NaN or infinity; ``rows`` marks the examples concerned."""

    def __init__(self, rows: np.ndarray):
        super().__init__("the model returned NaN or infinite logits")
        self.rows = rows


class ModelAdapter:
    """Calls the served model one request at a time (a lock, because a Keras model is not guaranteed thread-safe),
    and knows the shape of one input example and the number of classes it answers."""

    def __init__(self, model: Any, input_shape: tuple[int, ...] | None = None):
        self._model = model
        self._lock = threading.Lock()
        self.input_shape = resolve_input_shape(model, input_shape)
        if hasattr(model, "predict_logits"):
            self._call = model.predict_logits
        elif _looks_like_keras(model):
            self._call = lambda x: model(x, training=False)
        elif callable(model):
            self._call = model
        else:
            raise ValueError(
                f"cannot serve a {type(model).__name__}: give a Keras model, a callable x -> logits or an object "
                "with a predict_logits(x) method"
            )
        self.n_classes = self._count_classes()

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Finite logits of shape (n, n_classes), or ``NonFiniteLogits`` saying which examples got NaN/infinity."""
        logits = self._raw_logits(x)
        finite = np.isfinite(logits).all(axis=1)
        if not finite.all():
            raise NonFiniteLogits(~finite)
        return logits

    def _raw_logits(self, x: np.ndarray) -> np.ndarray:
        with self._lock:
            raw = self._call(x)
        with np.errstate(over="ignore"):  # float64 logits beyond float32 become infinity, reported by logits()
            logits = np.asarray(raw, dtype=np.float32)
        if logits.ndim != 2 or logits.shape[0] != len(x) or logits.shape[1] == 0:
            raise RuntimeError(
                f"the model returned shape {logits.shape} for {len(x)} examples; expected (n, n_classes)"
            )
        return logits

    def _count_classes(self) -> int:
        # Asked once at start, so a setting the model cannot honour (top_k with k > classes) fails there, not on
        # every request.
        try:
            return int(self._raw_logits(np.zeros((1, *self.input_shape), np.float32)).shape[1])
        except Exception as error:
            raise ValueError(
                f"the model failed on one zero example of shape {self.input_shape}: {_clip(str(error), 200)}"
            ) from error


def resolve_input_shape(model: Any, input_shape: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The shape of one example: ``input_shape`` if given, else the model's ``input_shape`` (a leading batch
    dimension ``None``, as Keras reports it, is dropped)."""
    shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None:
        raise ValueError(
            "the model does not say its input shape: pass input_shape=(...) for one example, e.g. (28, 28, 1)"
        )
    if isinstance(shape, list):
        raise ValueError(f"the service serves single-input models only, got input shapes {shape}")
    shape = tuple(shape)
    if shape and shape[0] is None:
        shape = shape[1:]
    if not shape or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(f"input_shape must be positive integers (one example, no batch dimension), got {shape}")
    return tuple(int(d) for d in shape)


def _looks_like_keras(model: Any) -> bool:
    # Duck typing keeps TensorFlow out of the import path of tests that serve a numpy model.
    return hasattr(model, "layers") and hasattr(model, "input_shape") and callable(model)


# --------------------------------------------------------------------------------------------------------------------
# The HTTP-free core: validation, budget, hardening, log.
# --------------------------------------------------------------------------------------------------------------------
class _NonFiniteNumber(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _NonFiniteNumber(name)


@dataclass(eq=False)
class _Ticket:
    """One request in flight. Its ``charge`` is refunded if ``close()`` abandons it before its log line is written
    (``settled``); an abandoned request then logs nothing and changes no budget."""

    charge: tuple[str, _Spend] | None = None
    settled: bool = False
    abandoned: bool = False


class PredictionService:
    """Everything the service does except HTTP, so it can be tested and reasoned about on its own.

    Every request runs under a ticket (``admit`` ... ``release``), so that stopping can refuse new requests, wait
    for those in flight and refund the ones it gives up on (``stop_accepting``, ``drain``, ``close``).
    """

    def __init__(
        self,
        model: Any,
        *,
        keys: Mapping[str, int],
        window_seconds: float,
        output: str = "probs",
        decimals: int = 2,
        k: int = 1,
        max_batch: int = DEFAULT_MAX_BATCH,
        input_shape: tuple[int, ...] | None = None,
        log_path: str | os.PathLike | None = None,
        max_log_entries: int = DEFAULT_MAX_LOG_ENTRIES,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ):
        outputs.check_output(output, decimals=decimals, k=k)
        _check_positive_int("max_batch", max_batch)
        _check_positive_int("max_log_entries", max_log_entries)
        _check_positive_int("max_log_bytes", max_log_bytes)
        self.log_path = _checked_log_path(log_path)
        self.model = ModelAdapter(model, input_shape)
        if output == "top_k" and k > self.model.n_classes:
            raise ValueError(f"k={k} is larger than the model's {self.model.n_classes} classes; choose k from 1 to "
                             f"{self.model.n_classes}")
        self.budget = QueryBudget(keys, window_seconds, clock)
        self.output, self.decimals, self.k = output, int(decimals), int(k)
        self.max_batch = int(max_batch)
        self.max_request_bytes = self.max_batch * int(np.prod(self.model.input_shape)) * _BYTES_PER_NUMBER + 65536
        self.max_log_bytes = int(max_log_bytes)
        # One condition guards the log, the tickets in flight and the stop flags: whether a request is logged or
        # abandoned is decided under it, so the two can never both happen.
        self._state = threading.Condition()
        self._log: deque[dict[str, Any]] = deque(maxlen=int(max_log_entries))
        self._log_dropped = 0
        self._file_dropped = 0
        self._write_failures = 0
        self._log_failing = False
        self._tickets: set[_Ticket] = set()
        self._accepting = True
        self._closed = False

    # -- public ---------------------------------------------------------------------------------------------------
    def predict(self, key: str | None, body: bytes, ticket: _Ticket | None = None) -> dict[str, Any]:
        """Answer one POST /predict body for ``key``; raises ``ApiError`` (4xx/5xx) and logs every attempt.

        ``ticket`` is the request's from ``admit``; without one the call takes (and releases) its own.
        """
        if ticket is None:
            ticket = self.admit()
            try:
                return self.predict(key, body, ticket)
            finally:
                self.release(ticket)
        known_key = key if self.budget.knows(key) else None
        n = 0
        try:
            self._authenticate(key)
            x = self.parse_inputs(body)
            n = len(x)
            self._charge(ticket, key, n)
            answers = self._answers(ticket, x)
        except ApiError as error:
            self._log_refusal(ticket, known_key, n, error)
            raise
        self._commit(ticket, key, n)
        usage = self.budget.usage(key)
        return {"output": self.output, "predictions": answers.tolist(), "n": n,
                "queries_used": usage["used"], "queries_remaining": usage["remaining"]}

    def refuse(self, key: str | None, error: ApiError, ticket: _Ticket | None = None) -> None:
        """Log a /predict attempt refused before its body could be read, then raise ``error``."""
        self._log_refusal(ticket, key if self.budget.knows(key) else None, 0, error)
        raise error

    def usage(self, key: str | None) -> dict[str, Any]:
        self._authenticate(key)
        return self.budget.usage(key)

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "output": self.output, "decimals": self.decimals, "k": self.k,
                "input_shape": list(self.model.input_shape), "n_classes": self.model.n_classes,
                "max_batch": self.max_batch, "window_seconds": self.budget.window_seconds}

    @property
    def log(self) -> list[dict[str, Any]]:
        """A copy of the query log: one dict per /predict attempt (time, key, n, allowed, status, error), the most
        recent ``max_log_entries`` only (``log_dropped`` counts the older ones let go)."""
        with self._state:
            return [dict(entry) for entry in self._log]

    @property
    def log_dropped(self) -> int:
        """Entries dropped from the in-memory log to keep it at ``max_log_entries``."""
        with self._state:
            return self._log_dropped

    @property
    def log_file_dropped(self) -> int:
        """Lines deleted from disk by rotation: a full log file becomes ``log_path`` + ".1", replacing the last one."""
        with self._state:
            return self._file_dropped

    @property
    def log_write_failures(self) -> int:
        """Log lines that could not be written to ``log_path`` (each allowed one was refunded and answered 500)."""
        with self._state:
            return self._write_failures

    # -- requests in flight and stopping --------------------------------------------------------------------------
    @property
    def accepting(self) -> bool:
        with self._state:
            return self._accepting

    def admit(self) -> _Ticket:
        """Register a request in flight, or refuse it with 503 once the service is stopping (never charged)."""
        with self._state:
            if not self._accepting:
                raise ApiError(503, "the service is stopping; this request was not served or charged")
            ticket = _Ticket()
            self._tickets.add(ticket)
            return ticket

    def release(self, ticket: _Ticket) -> None:
        """The request's answer has been sent (or it will never be): stop waiting for it."""
        with self._state:
            self._tickets.discard(ticket)
            self._state.notify_all()

    def stop_accepting(self) -> None:
        """New requests get 503 from now on; those in flight go on."""
        with self._state:
            self._accepting = False

    def drain(self, timeout: float, *, count_abandoned: bool = True) -> bool:
        """Wait up to ``timeout`` s until no request is in flight (abandoned ones aside, if not ``count_abandoned``);
        True if none is left."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._state:
            while any(count_abandoned or not t.abandoned for t in self._tickets):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._state.wait(remaining)
            return True

    def close(self) -> int:
        """Stop for good: refund and abandon every request not yet logged; returns how many. Afterwards nothing is
        logged and no budget changes."""
        with self._state:
            self._accepting = False
            self._closed = True
            abandoned = [t for t in self._tickets if not t.settled and not t.abandoned]
            for ticket in abandoned:
                ticket.abandoned = True
                self._refund_locked(ticket)
            return len(abandoned)

    def parse_inputs(self, body: bytes) -> np.ndarray:
        """Decode ``{"inputs": [...]}`` into a float32 array of shape (n, *input_shape), or raise ``ApiError`` 4xx."""
        try:
            payload = json.loads(body, parse_constant=_reject_constant)
        except _NonFiniteNumber as error:
            raise ApiError(400, f"inputs contain {error}; send finite numbers only") from None
        except (ValueError, RecursionError):
            raise ApiError(400, 'the body is not valid JSON; send {"inputs": [[...], ...]}') from None
        if not isinstance(payload, dict) or "inputs" not in payload:
            raise ApiError(400, 'the JSON body must be an object with an "inputs" field: {"inputs": [[...], ...]}')
        unknown = sorted(set(payload) - {"inputs"})
        if unknown:
            raise ApiError(400, f"unknown field(s) {_echo_names(unknown)}: the body takes only \"inputs\"")
        inputs = payload["inputs"]
        if not isinstance(inputs, list):
            raise ApiError(400, f'"inputs" must be a list of examples, got a JSON {type(inputs).__name__}')
        if not inputs:
            raise ApiError(400, '"inputs" is empty: send at least one example')
        if len(inputs) > self.max_batch:
            raise ApiError(413, f"a batch of {len(inputs)} examples is larger than the limit of {self.max_batch}; "
                                "split it into smaller requests")
        try:
            array = np.asarray(inputs)
        except (ValueError, TypeError, RecursionError):
            raise ApiError(400, '"inputs" is ragged: every example must have the same shape') from None
        if array.dtype.kind not in "iuf":
            raise ApiError(400, f'"inputs" must contain only float or integer numbers (no strings, booleans, nulls '
                                f"or integers beyond 64 bits); got numpy dtype {_clip(str(array.dtype), _ECHO_CHARS)}")
        with np.errstate(over="ignore", invalid="ignore"):
            array = array.astype(np.float32)
        if not np.all(np.isfinite(array)):
            raise ApiError(400, '"inputs" contain NaN, infinity or numbers too large for float32; send finite numbers')
        expected = self.model.input_shape
        if array.shape[1:] != expected:
            got = _clip(str(tuple(array.shape[1:])), _ECHO_CHARS)
            raise ApiError(400, f"each example must have shape {expected}, got {got} "
                                f"(inputs shape {_clip(str(tuple(array.shape)), _ECHO_CHARS)})")
        return array

    # -- internals ------------------------------------------------------------------------------------------------
    def _authenticate(self, key: str | None) -> None:
        if not key:
            raise ApiError(401, f"missing API key: send it in the {API_KEY_HEADER} header")
        if not self.budget.knows(key):
            raise ApiError(401, f"unknown API key in the {API_KEY_HEADER} header")

    def _charge(self, ticket: _Ticket, key: str, n: int) -> None:
        # Under the state lock, so close() either refunds this spend or it never happens.
        with self._state:
            if self._closed or ticket.abandoned:
                raise ApiError(503, _STOPPED_MESSAGE)
            ticket.charge = (key, self.budget.spend(key, n))

    def _refund(self, ticket: _Ticket) -> None:
        with self._state:
            self._refund_locked(ticket)

    def _refund_locked(self, ticket: _Ticket) -> None:
        if ticket.charge is not None:
            key, spend = ticket.charge
            self.budget.refund(key, spend)
            ticket.charge = None

    def _answers(self, ticket: _Ticket, x: np.ndarray) -> np.ndarray:
        """The hardened answers for ``x``; a failure refunds the charge and becomes ``ApiError`` 400 or 500."""
        try:
            logits = self.model.logits(x)
            return outputs.harden(outputs.softmax(logits), self.output, decimals=self.decimals, k=self.k)
        except NonFiniteLogits as error:
            self._refund(ticket)
            peak = float(np.max(np.abs(x[error.rows])))
            if peak > _EXTREME_INPUT:  # the model overflowed on the client's huge numbers: the client's doing
                raise ApiError(400, f"the model has no finite answer for inputs as large as {peak:.3g}; send values "
                                    "in the range the model was trained on") from None
            LOGGER.error("the served model returned NaN or infinite logits for inputs up to %g", peak)
            raise ApiError(500, f"the model failed on this request: {error}") from error
        except Exception as error:
            self._refund(ticket)
            LOGGER.exception("the served model failed")
            raise ApiError(500, f"the model failed on this request: {_clip(str(error), 200)}") from error

    def _commit(self, ticket: _Ticket, key: str, n: int) -> None:
        """Log an answered request, the moment it counts as served; if the log line cannot be written, refund it and
        raise 500 (an unlogged answer would be an unmetered one). Raises 503 if ``close()`` abandoned it."""
        with self._state:
            if self._closed or ticket.abandoned:
                raise ApiError(503, _STOPPED_MESSAGE)
            ticket.settled = True
            if self._record(self._entry(key, n, True, 200, None), required=True):
                return
            self._refund_locked(ticket)
            error = ApiError(500, "the service could not write its query log, so it did not answer; this request "
                                  "was not charged")
            self._record(self._entry(key, n, False, error.status, error.message), required=False)
        raise error

    def _log_refusal(self, ticket: _Ticket | None, key: str | None, n: int, error: ApiError) -> None:
        # A refusal gets its own answer even if its log line cannot be written (the failure is counted).
        with self._state:
            if self._closed or (ticket is not None and ticket.abandoned):
                return
            if ticket is not None:
                ticket.settled = True
            self._record(self._entry(key, n, False, error.status, error.message), required=False)

    @staticmethod
    def _entry(key: str | None, n: int, allowed: bool, status: int, error: str | None) -> dict[str, Any]:
        return {"time": time.time(), "key": key, "n": int(n), "allowed": bool(allowed), "status": int(status),
                "error": error}

    def _record(self, entry: dict[str, Any], *, required: bool) -> bool:
        """Append ``entry`` to the log file (if any) and to memory; returns whether the file took it. A ``required``
        entry the file could not take is not kept in memory either. Called under the state lock."""
        written = self._write_line(json.dumps(entry) + "\n")
        if written or not required:
            if len(self._log) == self._log.maxlen:
                self._log_dropped += 1
            self._log.append(entry)
        return written

    def _write_line(self, line: str) -> bool:
        if self.log_path is None:
            return True
        try:
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(line)
                size = handle.tell()
        except OSError as error:
            self._write_failures += 1
            if not self._log_failing:  # once per outage, not once per line
                LOGGER.error("cannot write the query log %s (%s); counting failures in log_write_failures",
                             self.log_path, error)
            self._log_failing = True
            return False
        self._log_failing = False
        if size > self.max_log_bytes:
            self._rotate()
        return True

    def _rotate(self) -> None:
        """Move the full log file to ``log_path`` + ".1", replacing (and counting) the lines of the previous one."""
        backup = self.log_path + ".1"
        try:
            dropped = _count_lines(backup) if os.path.exists(backup) else 0
            os.replace(self.log_path, backup)
        except OSError as error:
            LOGGER.error("cannot rotate the query log %s (%s); it keeps growing", self.log_path, error)
            return
        self._file_dropped += dropped


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _checked_log_path(log_path: str | os.PathLike | None) -> str | None:
    # Checked at start: a log that cannot be written would refuse every request.
    if log_path is None:
        return None
    path = os.fspath(log_path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"log_path {path!r} is in a folder that does not exist; create {folder!r} first")
    if os.path.isdir(path):
        raise ValueError(f"log_path {path!r} is a folder; give the path of a file such as queries.jsonl")
    return path


def _count_lines(path: str) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _echo_names(names: list[str]) -> str:
    """At most three names, each clipped: what a client sent is echoed back only in small doses."""
    shown = ", ".join(_clip(name, _ECHO_CHARS) for name in names[:3])
    return shown if len(names) <= 3 else f"{shown} and {len(names) - 3} more"


# --------------------------------------------------------------------------------------------------------------------
# HTTP: a Flask app, served by waitress in a background thread.
# --------------------------------------------------------------------------------------------------------------------
_TICKET = "course_lib.api.ticket"


def create_app(service: PredictionService):
    """The Flask app of ``service``: every answer, including every error, is JSON (``{"error": "..."}``)."""
    from flask import Flask, jsonify, request
    from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

    app = Flask("course_prediction_api")
    # Flask refuses an oversized body in JSON from its Content-Length, before reading it; waitress's own, larger
    # limit (1 GiB, spooled to disk) stays as the last resort and would answer in plain text.
    app.config["MAX_CONTENT_LENGTH"] = service.max_request_bytes
    app.json.sort_keys = False

    def error_response(status: int, message: str, headers: Mapping[str, str] | None = None):
        response = jsonify({"error": message})
        response.status_code = status
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response

    @app.errorhandler(ApiError)
    def on_api_error(error: ApiError):
        return error_response(error.status, error.message, error.headers)

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException):
        if error.code == 413:
            message = f"the request body is larger than {service.max_request_bytes} bytes; send smaller batches"
        else:
            message = f"{error.name}: {error.description}"
        return error_response(error.code or 500, message)

    @app.errorhandler(Exception)
    def on_unexpected(error: Exception):  # a bug of the service, never the client's fault
        LOGGER.exception("unexpected error in the prediction service")
        return error_response(500, f"internal error ({type(error).__name__})")

    @app.post("/predict")
    def predict():
        key = request.headers.get(API_KEY_HEADER)
        ticket = request.environ.get(_TICKET)
        try:
            body = request.get_data(cache=False)  # raises 413 beyond MAX_CONTENT_LENGTH
        except RequestEntityTooLarge:
            service.refuse(key, ApiError(413, f"the request body is larger than {service.max_request_bytes} bytes; "
                                              "send smaller batches"), ticket)
        return jsonify(service.predict(key, body, ticket))

    @app.get("/usage")
    def usage():
        return jsonify(service.usage(request.headers.get(API_KEY_HEADER)))

    @app.get("/health")
    def health():
        return jsonify(service.health())

    app.wsgi_app = _InFlight(app.wsgi_app, service)
    return app


class _InFlight:
    """WSGI middleware: each request holds a ticket of the service from the moment waitress hands it over until
    waitress has written its whole answer (it then closes the answer's iterator), so ``stop()`` can wait for answers
    to be sent. Once the service stops accepting, new requests get 503 here without reaching the app."""

    def __init__(self, app: Callable, service: PredictionService):
        self.app = app
        self.service = service

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        from werkzeug.wsgi import ClosingIterator

        try:
            ticket = self.service.admit()
        except ApiError as refused:
            body = json.dumps({"error": refused.message}).encode()
            start_response(f"{refused.status} {http.HTTPStatus(refused.status).phrase}",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        environ[_TICKET] = ticket
        try:
            answer = self.app(environ, start_response)
        except BaseException:
            self.service.release(ticket)
            raise
        return ClosingIterator(answer, lambda: self.service.release(ticket))


def _deadline_channel(request_deadline: float) -> type:
    """A waitress connection class that must send each request within ``request_deadline`` seconds of its first
    byte: waitress's idle timeout never drops a client that trickles a byte every few seconds."""
    from waitress.channel import HTTPChannel

    class DeadlineChannel(HTTPChannel):
        request_began = 0.0

        def received(self, data: bytes) -> bool:
            now = time.time()
            if self.request is None:
                self.request_began = now
            elif now - self.request_began > request_deadline and not self.requests:
                self.will_close = True  # as waitress's own idle timeout does: the event loop closes it
                return False
            return super().received(data)

    return DeadlineChannel


def _connection_limit() -> int:
    """How many connections waitress may hold: up to 1000, but at most a quarter of this process's file descriptors
    (a connection may use up to three, and the rest of the process needs some)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # no resource module (Windows): waitress's own default
        return 100
    if soft == resource.RLIM_INFINITY:
        return _MAX_CONNECTIONS
    return max(16, min(_MAX_CONNECTIONS, soft // 4))


class Service:
    """A running prediction service on 127.0.0.1: ``url``, ``log``, ``usage(key)``, ``stop()``; a context manager."""

    def __init__(self, core: PredictionService, server: Any, thread: threading.Thread):
        self.core = core
        self._server = server
        self._thread = thread
        self.port = int(server.effective_port)
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopped = False
        self._stop_lock = threading.Lock()

    @property
    def log(self) -> list[dict[str, Any]]:
        return self.core.log

    def usage(self, key: str) -> dict[str, Any]:
        return self.core.budget.usage(key)

    @property
    def running(self) -> bool:
        return not self._stopped and self._thread.is_alive()

    def stop(self, timeout: float = _STOP_TIMEOUT_SECONDS) -> None:
        """Refuse new requests (503, never charged), wait up to ``timeout`` s for those in flight to be answered,
        refund the ones still running, then close every socket and join every thread the service started.

        Once this returns, the log (memory and file) and the budgets no longer change: a request abandoned here gets
        no answer and is not charged.
        """
        from waitress import wasyncore

        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        core, server = self.core, self._server
        core.stop_accepting()
        answered = core.drain(timeout)
        abandoned = core.close()  # refunds what still runs; from here on nothing is logged or charged
        if not answered:
            LOGGER.warning("%d request(s) still running after %g s were refunded and get no answer", abandoned,
                           timeout)
            core.drain(_ANSWER_GRACE_SECONDS, count_abandoned=False)  # answers already logged finish writing
        # Joins the idle worker threads; a worker stuck in the model is left behind (daemon): it can no longer log,
        # charge or write to a socket.
        server.task_dispatcher.shutdown(timeout=_STOP_TIMEOUT_SECONDS if answered else 0.2)
        # Close the listening socket, open connections and the wake-up pipe from inside the event loop's own
        # thread (the trigger runs the function there); the loop ends once its socket map is empty.
        # waitress queues the function before it writes the wake-up byte, so a wake-up already in flight can run
        # it first and close the pipe under our write (EBADF, or a byte into whatever file reused that number).
        # The lock makes the close wait until our byte is written.
        wake_up_written = threading.Lock()

        def close_everything() -> None:
            with wake_up_written:
                wasyncore.close_all(server._map, ignore_all=True)

        with wake_up_written:
            server.trigger.pull_trigger(close_everything)
        self._thread.join(_STOP_TIMEOUT_SECONDS)
        if self._thread.is_alive():
            raise RuntimeError(
                f"the prediction service on port {self.port} did not stop within {_STOP_TIMEOUT_SECONDS} s"
            )

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Service({self.url}, output={self.core.output!r}, {state})"


def serve_in_background(
    model: Any,
    *,
    keys: Mapping[str, int],
    window_seconds: float,
    output: str = "probs",
    decimals: int = 2,
    k: int = 1,
    port: int = 0,
    threads: int = 4,
    max_batch: int = DEFAULT_MAX_BATCH,
    input_shape: tuple[int, ...] | None = None,
    log_path: str | os.PathLike | None = None,
    max_log_entries: int = DEFAULT_MAX_LOG_ENTRIES,
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Service:
    """Serve ``model`` on 127.0.0.1:``port`` (0 = a free port) with per-key budgets of examples per ``window_seconds``.

    ``output`` is the service's answer policy ("probs", "rounded" to ``decimals``, "top_k" keeping ``k``, "labels").
    A connection silent for ``idle_timeout`` s, or slower than twice that to send one request, is dropped.
    Returns at once with the socket bound; stop it with ``.stop()`` or a ``with`` block.
    """
    from waitress import create_server, wasyncore
    from waitress.task import ThreadedTaskDispatcher

    # "Task queue depth is N" is waitress telling an operator its threads are busy; in a notebook it lands in the
    # learner's widget output, and the service's own log already records every request.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    if isinstance(port, bool) or not isinstance(port, (int, np.integer)) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer from 0 to 65535 (0 picks a free port), got {port!r}")
    _check_positive_int("threads", threads)
    _check_positive_int("idle_timeout", idle_timeout)
    core = PredictionService(model, keys=keys, window_seconds=window_seconds, output=output, decimals=decimals, k=k,
                             max_batch=max_batch, input_shape=input_shape, log_path=log_path,
                             max_log_entries=max_log_entries, max_log_bytes=max_log_bytes, clock=clock)
    # Our own socket map and worker pool, whose threads start only once the port is bound: a failed start (a busy
    # port) then leaves no thread, socket or pipe behind.
    socket_map: dict = {}
    dispatcher = ThreadedTaskDispatcher()
    try:
        server = create_server(create_app(core), map=socket_map, _dispatcher=dispatcher, host="127.0.0.1",
                               port=int(port), threads=int(threads), ident="course-prediction-api",
                               connection_limit=_connection_limit(), channel_timeout=int(idle_timeout),
                               cleanup_interval=1, asyncore_use_poll=True)  # poll: select() stops at fd 1024
        server.channel_class = _deadline_channel(2 * int(idle_timeout))
        dispatcher.set_thread_count(int(threads))
        thread = threading.Thread(target=server.run, name=f"prediction-api-{server.effective_port}", daemon=True)
        thread.start()
    except BaseException:
        dispatcher.shutdown(timeout=_STOP_TIMEOUT_SECONDS)
        wasyncore.close_all(socket_map, ignore_all=True)
        raise
    return Service(core, server, thread)
