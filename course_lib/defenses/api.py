"""A query-limited prediction service: the "API access" defence of notebook 04, as a real HTTP server.

Black-box attacks (model extraction, label-only membership inference, black-box inversion) need many queries. A
service that hands out API keys, counts every example each key sends over a sliding time window and answers with less
information (rounded probabilities, labels only) raises their cost. This module serves any course model that way:

* ``PredictionService``: the HTTP-free core (input validation, per-key budgets, output hardening, query log);
* ``create_app``: a Flask app exposing it (``POST /predict``, ``GET /usage``, ``GET /health``);
* ``serve_in_background``: the app on 127.0.0.1 behind waitress (several worker threads) in a background thread,
  returning a ``Service`` that a notebook stops (or uses as a context manager).

Flask and waitress do the HTTP; only the budget bookkeeping is written by hand here, because neither offers it.
"""
from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from course_lib.defenses import outputs

LOGGER = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
DEFAULT_MAX_BATCH = 256
# A JSON number of a float32 pixel takes at most ~25 characters ("0.0039215688593685627, ").
_BYTES_PER_NUMBER = 32
_STOP_TIMEOUT_SECONDS = 5.0


class ApiError(Exception):
    """A request the service refuses: the HTTP status, a one-sentence reason and optional extra headers."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
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
class ModelAdapter:
    """Calls the served model one request at a time (a lock, because a Keras model is not guaranteed thread-safe),
    and knows the shape of one input example."""

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

    def logits(self, x: np.ndarray) -> np.ndarray:
        with self._lock:
            raw = self._call(x)
        logits = np.asarray(raw, dtype=np.float32)
        if logits.ndim != 2 or logits.shape[0] != len(x):
            raise RuntimeError(
                f"the model returned shape {logits.shape} for {len(x)} examples; expected (n, n_classes)"
            )
        if not np.all(np.isfinite(logits)):
            raise RuntimeError("the model returned NaN or infinite logits")
        return logits


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


class PredictionService:
    """Everything the service does except HTTP, so it can be tested and reasoned about on its own."""

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
        clock: Callable[[], float] = time.monotonic,
    ):
        outputs.check_output(output, decimals=decimals, k=k)
        if isinstance(max_batch, bool) or not isinstance(max_batch, (int, np.integer)) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
        self.model = ModelAdapter(model, input_shape)
        self.budget = QueryBudget(keys, window_seconds, clock)
        self.output, self.decimals, self.k = output, int(decimals), int(k)
        self.max_batch = int(max_batch)
        self.max_request_bytes = self.max_batch * int(np.prod(self.model.input_shape)) * _BYTES_PER_NUMBER + 65536
        self.log_path = os.fspath(log_path) if log_path is not None else None
        self._log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()

    # -- public ---------------------------------------------------------------------------------------------------
    def predict(self, key: str | None, body: bytes) -> dict[str, Any]:
        """Answer one POST /predict body for ``key``; raises ``ApiError`` (4xx/5xx) and logs every attempt."""
        known_key = key if self.budget.knows(key) else None
        n = 0
        try:
            self._authenticate(key)
            x = self.parse_inputs(body)
            n = len(x)
            spend = self.budget.spend(key, n)
            try:
                answers = outputs.harden(outputs.softmax(self.model.logits(x)), self.output,
                                         decimals=self.decimals, k=self.k)
            except Exception as error:
                self.budget.refund(key, spend)
                LOGGER.exception("the served model failed")
                raise ApiError(500, f"the model failed on this request: {error}") from error
        except ApiError as error:
            self._append_log(known_key, n, False, error.status, error.message)
            raise
        self._append_log(key, n, True, 200, None)
        usage = self.budget.usage(key)
        return {"output": self.output, "predictions": answers.tolist(), "n": n,
                "queries_used": usage["used"], "queries_remaining": usage["remaining"]}

    def refuse(self, key: str | None, error: ApiError) -> None:
        """Log a /predict attempt refused before its body could be read, then raise ``error``."""
        self._append_log(key if self.budget.knows(key) else None, 0, False, error.status, error.message)
        raise error

    def usage(self, key: str | None) -> dict[str, Any]:
        self._authenticate(key)
        return self.budget.usage(key)

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "output": self.output, "decimals": self.decimals, "k": self.k,
                "input_shape": list(self.model.input_shape), "max_batch": self.max_batch,
                "window_seconds": self.budget.window_seconds}

    @property
    def log(self) -> list[dict[str, Any]]:
        """A copy of the query log: one dict per /predict attempt (time, key, n, allowed, status, error)."""
        with self._log_lock:
            return [dict(entry) for entry in self._log]

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
            raise ApiError(400, f"unknown field(s) {', '.join(unknown)}: the body takes only \"inputs\"")
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
                                f"or integers beyond 64 bits); got numpy dtype {array.dtype}")
        with np.errstate(over="ignore", invalid="ignore"):
            array = array.astype(np.float32)
        if not np.all(np.isfinite(array)):
            raise ApiError(400, '"inputs" contain NaN, infinity or numbers too large for float32; send finite numbers')
        expected = self.model.input_shape
        if array.shape[1:] != expected:
            raise ApiError(400, f"each example must have shape {expected}, got {tuple(array.shape[1:])} "
                                f"(inputs shape {tuple(array.shape)})")
        return array

    # -- internals ------------------------------------------------------------------------------------------------
    def _authenticate(self, key: str | None) -> None:
        if not key:
            raise ApiError(401, f"missing API key: send it in the {API_KEY_HEADER} header")
        if not self.budget.knows(key):
            raise ApiError(401, f"unknown API key in the {API_KEY_HEADER} header")

    def _append_log(self, key: str | None, n: int, allowed: bool, status: int, error: str | None) -> None:
        entry = {"time": time.time(), "key": key, "n": int(n), "allowed": bool(allowed), "status": int(status),
                 "error": error}
        with self._log_lock:
            self._log.append(entry)
            if self.log_path is not None:
                with open(self.log_path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry) + "\n")


# --------------------------------------------------------------------------------------------------------------------
# HTTP: a Flask app, served by waitress in a background thread.
# --------------------------------------------------------------------------------------------------------------------
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
        try:
            body = request.get_data(cache=False)  # raises 413 beyond MAX_CONTENT_LENGTH
        except RequestEntityTooLarge:
            service.refuse(key, ApiError(413, f"the request body is larger than {service.max_request_bytes} bytes; "
                                              "send smaller batches"))
        return jsonify(service.predict(key, body))

    @app.get("/usage")
    def usage():
        return jsonify(service.usage(request.headers.get(API_KEY_HEADER)))

    @app.get("/health")
    def health():
        return jsonify(service.health())

    return app


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

    def stop(self) -> None:
        """Finish the requests in flight, close every socket and join every thread the service started."""
        from waitress import wasyncore

        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        server = self._server
        server.task_dispatcher.shutdown(timeout=_STOP_TIMEOUT_SECONDS)  # joins the worker threads
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
    clock: Callable[[], float] = time.monotonic,
) -> Service:
    """Serve ``model`` on 127.0.0.1:``port`` (0 = a free port) with per-key budgets of examples per ``window_seconds``.

    ``output`` is the service's answer policy ("probs", "rounded" to ``decimals``, "top_k" keeping ``k``, "labels").
    Returns at once with the socket bound; stop it with ``.stop()`` or a ``with`` block.
    """
    from waitress import create_server

    if isinstance(port, bool) or not isinstance(port, (int, np.integer)) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer from 0 to 65535 (0 picks a free port), got {port!r}")
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    core = PredictionService(model, keys=keys, window_seconds=window_seconds, output=output, decimals=decimals, k=k,
                             max_batch=max_batch, input_shape=input_shape, log_path=log_path, clock=clock)
    server = create_server(create_app(core), host="127.0.0.1", port=int(port), threads=int(threads),
                           ident="course-prediction-api")
    thread = threading.Thread(target=server.run, name=f"prediction-api-{server.effective_port}", daemon=True)
    thread.start()
    return Service(core, server, thread)
