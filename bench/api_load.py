"""Load on the query-limited prediction service: concurrent clients, each with its own key, hammer POST /predict.

Every client (a thread with its own HTTP session) sends batches of 1-4 examples to a tiny numpy model as fast as it
can for --seconds; a short sliding window (--window, 2 s) and a small budget per key force many refusals (429) while
older spends keep leaving the window. Prints requests per second, p50/p99 latency and the number of 429s, then checks
the clients' own records against the service's log (memory and file) and usage, and prints PASS or FAIL:

* every request got exactly one answer and one log line, in the same order, with the same status and size;
* every 200 holds the model's answers; nothing else than 200 or 429 came back;
* no 200 pushed its key over the budget and no 429 came while the budget had room (each spend happened between the
  client's send and receive times, on the same clock as the service's, so the check uses those bounds);
* each key's usage matches the 200s still in the window, and drops to 0 once the window has passed.

Clients and server share one Python process (and its GIL): the rate measures the service plus its clients.

    python bench/api_load.py [--seconds 60] [--clients 8] [--window 2] [--budget 100] [--threads 8]
"""
from __future__ import annotations

import argparse
import bisect
import json
import logging
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests

from course_lib.defenses import outputs
from course_lib.defenses.api import serve_in_background

N_FEATURES, N_CLASSES, MAX_EXAMPLES = 8, 5, 4
WEIGHTS = np.random.default_rng(0).normal(size=(N_FEATURES, N_CLASSES)).astype(np.float32)


def tiny_model(x: np.ndarray) -> np.ndarray:
    """A numpy 'model': 8 inputs -> 5 logits."""
    return x @ WEIGHTS


@dataclass
class Request:
    sent: float  # time.monotonic(), the service's budget clock
    received: float
    n: int
    status: int  # 0: no HTTP answer (transport error)
    correct: bool


@dataclass
class Client:
    key: str
    records: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def hammer(client: Client, url: str, deadline: float, seed: int) -> None:
    """Send requests one after another until ``deadline``, recording each one's times, size and answer."""
    rng = np.random.default_rng(seed)
    with requests.Session() as session:
        session.headers["X-API-Key"] = client.key
        while time.monotonic() < deadline:
            x = rng.uniform(size=(int(rng.integers(1, MAX_EXAMPLES + 1)), N_FEATURES)).astype(np.float32)
            sent = time.monotonic()
            try:
                response = session.post(f"{url}/predict", json={"inputs": x.tolist()}, timeout=30)
            except requests.RequestException as error:
                client.records.append(Request(sent, time.monotonic(), len(x), 0, False))
                client.errors.append(repr(error))
                continue
            received = time.monotonic()
            correct = response.status_code != 200 or bool(np.allclose(
                response.json()["predictions"], outputs.softmax(tiny_model(x)), rtol=1e-5, atol=1e-6))
            client.records.append(Request(sent, received, len(x), response.status_code, correct))


def budget_problems(records: list[Request], budget: int, window: float) -> list[str]:
    """Replay one key's requests (sequential, so ordered): a 200 must fit even counting only the spends surely in its
    window; a 429 must not fit even counting every spend possibly in it."""
    sent = [r.sent for r in records]
    received = [r.received for r in records]
    allowed = np.cumsum([0] + [r.n if r.status == 200 else 0 for r in records])
    problems = []
    for i, r in enumerate(records):
        if r.status == 200:
            surely = allowed[i] - allowed[bisect.bisect_right(sent, r.received - window, 0, i)] + r.n
            if surely > budget:
                problems.append(f"request {i} was answered with at least {surely} examples in the window")
        elif r.status == 429:
            possibly = allowed[i] - allowed[bisect.bisect_right(received, r.sent - window, 0, i)]
            if possibly + r.n <= budget:
                problems.append(f"request {i} was refused with at most {possibly} examples in the window")
    return problems


def usage_bounds(records: list[Request], window: float, before: float, after: float) -> tuple[int, int]:
    """The least and most examples of 200s that can still be in the window at a time between before and after."""
    surely = sum(r.n for r in records if r.status == 200 and r.sent > after - window)
    possibly = sum(r.n for r in records if r.status == 200 and r.received > before - window)
    return surely, possibly


def run_checks(clients: list[Client], service, log_path: Path, budget: int, window: float) -> list[tuple[bool, str]]:
    log = service.log
    file_log = [json.loads(line) for line in log_path.read_text().splitlines()]
    checks = [(file_log == log and service.core.log_dropped == 0 and service.core.log_write_failures == 0,
               f"the log file holds the same {len(log)} entries as memory; none dropped, none failed")]
    mismatched, wrong, other, over = [], 0, 0, []
    for client in clients:
        mine = [(e["status"], e["n"]) for e in log if e["key"] == client.key]
        if mine != [(r.status, r.n) for r in client.records]:
            mismatched.append(client.key)
        wrong += sum(not r.correct for r in client.records)
        other += sum(r.status not in (200, 429) for r in client.records)
        over += budget_problems(client.records, budget, window)
    n_requests = sum(len(c.records) for c in clients)
    checks.append((not mismatched and len(log) == n_requests,
                   f"every one of {n_requests} requests got exactly one answer and one log line, in order, with the "
                   f"same status and size" + (f" (not for keys {mismatched})" if mismatched else "")))
    checks.append((wrong == 0 and other == 0, f"every 200 held the model's answers ({wrong} wrong); nothing but 200 "
                                              f"and 429 came back ({other} other)"))
    checks.append((not over, "no 200 went over its key's budget and no 429 came while the budget had room"
                             + (f": {over[:3]}" if over else "")))
    off = []
    for client in clients:
        before = time.monotonic()
        used = service.usage(client.key)["used"]
        low, high = usage_bounds(client.records, window, before, time.monotonic())
        if not low <= used <= high:
            off.append(f"{client.key}: used {used}, expected {low}-{high}")
    checks.append((not off, "each key's usage matches its 200s still in the window" + (f": {off}" if off else "")))
    time.sleep(window + 0.1)
    left = {c.key: service.usage(c.key)["used"] for c in clients if service.usage(c.key)["used"]}
    checks.append((not left, "every key's usage is 0 once the window has passed" + (f": {left}" if left else "")))
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the clients send requests")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients, one key each")
    parser.add_argument("--window", type=float, default=2.0, help="the budget's sliding window, seconds")
    parser.add_argument("--budget", type=int, default=100, help="examples per key per window")
    parser.add_argument("--threads", type=int, default=8, help="the service's worker threads")
    args = parser.parse_args()
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth": expected under this load
    keys = {f"client-{i}": args.budget for i in range(args.clients)}
    clients = [Client(key) for key in keys]
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "queries.jsonl"
        with serve_in_background(tiny_model, keys=keys, window_seconds=args.window, input_shape=(N_FEATURES,),
                                 threads=args.threads, max_batch=MAX_EXAMPLES, log_path=log_path,
                                 max_log_entries=10**7, max_log_bytes=2**40) as service:
            start = time.monotonic()
            deadline = start + args.seconds
            workers = [threading.Thread(target=hammer, args=(c, service.url, deadline, i))
                       for i, c in enumerate(clients)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            elapsed = time.monotonic() - start
            checks = run_checks(clients, service, log_path, args.budget, args.window)
    records = [r for c in clients for r in c.records]
    latencies = np.array([r.received - r.sent for r in records]) * 1000
    statuses = [r.status for r in records]
    print(f"{args.clients} clients for {elapsed:.1f} s, {args.threads} worker threads, window {args.window:g} s, "
          f"budget {args.budget} examples per key per window, 1-{MAX_EXAMPLES} examples per request")
    print(f"requests: {len(records)} ({len(records) / elapsed:.0f}/s); answered 200: {statuses.count(200)} "
          f"({statuses.count(200) / elapsed:.0f}/s, {sum(r.n for r in records if r.status == 200)} examples); "
          f"refused 429: {statuses.count(429)}; other: {len(records) - statuses.count(200) - statuses.count(429)}")
    print(f"latency: p50 {np.percentile(latencies, 50):.1f} ms, p99 {np.percentile(latencies, 99):.1f} ms, "
          f"max {latencies.max():.1f} ms")
    for ok, text in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    for client in clients:
        for error in client.errors[:3]:
            print(f"  transport error ({client.key}): {error}")
    passed = all(ok for ok, _ in checks)
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
