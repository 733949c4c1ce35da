"""The attacker's side of the prediction service: a query function over HTTP that counts what it spends.

Notebook 01's black-box attacks take a query function ``x -> answers``. ``ServiceClient(url, key).query`` is one, so
the same extraction attack runs unchanged against the query-limited service of notebook 04, and stops with
``BudgetExhausted`` when the service says no more.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import requests

from course_lib.defenses.api import API_KEY_HEADER

DEFAULT_TIMEOUT_SECONDS = 30.0


class ServiceError(RuntimeError):
    """The service refused a request (4xx) or failed (5xx); ``status`` and the service's one-sentence ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(f"the prediction service answered {status}: {message}")
        self.status = status
        self.message = message


class BudgetExhausted(ServiceError):
    """The key's query budget is spent (HTTP 429). ``retry_after`` is the service's wait in seconds; ``partial``
    holds the answers obtained for the leading examples before the refusal (possibly none)."""

    def __init__(self, status: int, message: str, retry_after: float | None, partial: np.ndarray | None):
        super().__init__(status, message)
        self.retry_after = retry_after
        self.partial = partial


class ServiceClient:
    """Query a prediction service with one API key; ``query(x)`` returns probabilities (n, n_classes) or, when the
    service answers labels only, int64 labels (n,). ``queries_used`` counts the examples answered so far."""

    def __init__(self, url: str, key: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, batch_size: int | None = None):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {url!r}")
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty API key string")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
        bad_batch = isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        if batch_size is not None and bad_batch:
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = float(timeout)
        self.batch_size = batch_size
        self.queries_used = 0
        self.requests_sent = 0
        self._session = requests.Session()
        self._session.headers[API_KEY_HEADER] = key
        self._health: dict[str, Any] | None = None
        self._key_budget: int | None = None

    # -- the query function ---------------------------------------------------------------------------------------
    def query(self, x: np.ndarray) -> np.ndarray:
        """Answers for the examples ``x`` (first axis = examples), sent in batches the service accepts.

        ``x`` may drop or add size-1 axes of the service's input shape ((n, 28, 28) for a (28, 28, 1) model).
        Raises ``BudgetExhausted`` when the budget runs out, ``ServiceError`` for any other refusal.
        """
        x = self._fit_shape(np.asarray(x, dtype=np.float32))
        step = self._batch_limit()
        answers: list[np.ndarray] = []
        done = 0
        while done < len(x):
            chunk = x[done : done + step]
            try:
                answers.append(self._predict(chunk))
                done += len(chunk)
            except BudgetExhausted as refused:
                # Spend what is left of the budget on a smaller chunk; the chunk shrinks each time, so this ends.
                remaining = int(self.usage()["remaining"])
                if 0 < remaining < len(chunk):
                    step = remaining
                    continue
                refused.partial = np.concatenate(answers) if answers else None
                raise
        return np.concatenate(answers)

    __call__ = query

    def usage(self) -> dict[str, Any]:
        """The service's count for this key: ``budget``, ``used``, ``remaining``, ``window_seconds``."""
        return self._json(self._session.get(f"{self.url}/usage", timeout=self.timeout))

    def health(self) -> dict[str, Any]:
        """The service's public settings (output policy, input shape, max batch); fetched once and cached."""
        if self._health is None:
            self._health = self._json(self._session.get(f"{self.url}/health", timeout=self.timeout))
        return self._health

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "ServiceClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------------------------
    def _predict(self, batch: np.ndarray) -> np.ndarray:
        self.requests_sent += 1
        response = self._session.post(f"{self.url}/predict", json={"inputs": batch.tolist()}, timeout=self.timeout)
        body = self._json(response)
        predictions = np.asarray(body["predictions"])
        self.queries_used += len(batch)
        if body["output"] == "labels":
            return predictions.astype(np.int64)
        return predictions.astype(np.float32)

    def _batch_limit(self) -> int:
        # Never larger than the key's whole budget, so running out yields the answers that fit, then BudgetExhausted.
        if self._key_budget is None:
            self._key_budget = int(self.usage()["budget"])
        return min(self.batch_size or int(self.health()["max_batch"]), self._key_budget)

    def _fit_shape(self, x: np.ndarray) -> np.ndarray:
        expected = tuple(self.health()["input_shape"])
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"x must hold at least one example of shape {expected}, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinity; the service accepts finite numbers only")
        if x.shape[1:] == expected:
            return x
        if _without_ones(x.shape[1:]) == _without_ones(expected):
            return x.reshape((len(x),) + expected)
        raise ValueError(f"each example must have shape {expected} (size-1 axes may differ), got {x.shape[1:]}")

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text[:200]}
        if response.status_code == 429:
            retry = response.headers.get("Retry-After")
            raise BudgetExhausted(429, body.get("error", "budget exhausted"), float(retry) if retry else None, None)
        if response.status_code != 200:
            raise ServiceError(response.status_code, body.get("error", response.reason))
        return body


def _without_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)
