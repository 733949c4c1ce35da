"""The query-limited prediction service over real HTTP on 127.0.0.1: budgets hold under concurrency, bad requests
get clear 4xx JSON answers, outputs are hardened as configured, clients are charged only for answers they get, the log
stays bounded, idle connections lock nobody out, and the service stops without leaving anything."""
import contextlib
import gc
import json
import os
import shutil
import socket
import threading
import time
import tracemalloc

import numpy as np
import pytest
import requests

from course_lib.defenses import outputs
from course_lib.defenses.api import ApiError, PredictionService, QueryBudget, serve_in_background
from course_lib.defenses.client import BudgetExhausted, ServiceClient, ServiceError

TIMEOUT = 10  # seconds, on every client call
WEIGHTS = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
X = np.random.default_rng(1).uniform(size=(12, 4)).astype(np.float32)


def tiny_model(x: np.ndarray) -> np.ndarray:
    """A numpy 'model': 4 inputs -> 3 logits (NaN or infinity, quietly, for inputs near the float32 limit)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return x @ WEIGHTS


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlowModel:
    """tiny_model, but a request (non-zero inputs; the zero probe at start passes) waits until ``release`` is set."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if np.any(x):
            self.entered.set()
            self.release.wait(TIMEOUT)
        return tiny_model(x)


def wait_until(condition, timeout=TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def post(service, inputs=None, *, key="alice", data=None):
    headers = {"X-API-Key": key} if key is not None else {}
    if data is None:
        data = json.dumps({"inputs": inputs})
    return requests.post(f"{service.url}/predict", data=data, headers=headers, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def service():
    with serve_in_background(tiny_model, keys={"alice": 1000, "bob": 5}, window_seconds=3600,
                             input_shape=(4,), max_batch=50) as svc:
        yield svc


# -- answers ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("output", ["probs", "rounded", "top_k", "labels"])
def test_each_output_policy_answers_as_promised(output):
    expected_probs = outputs.softmax(tiny_model(X))
    with serve_in_background(tiny_model, keys={"k": 100}, window_seconds=60, input_shape=(4,), output=output,
                             decimals=1, k=2) as svc, ServiceClient(svc.url, "k", timeout=TIMEOUT) as client:
        answers = client.query(X)
    if output == "labels":
        assert answers.dtype == np.int64 and answers.shape == (len(X),)
        np.testing.assert_array_equal(answers, expected_probs.argmax(axis=1))
        return
    assert answers.shape == (len(X), 3)
    if output == "probs":
        np.testing.assert_allclose(answers, expected_probs, rtol=1e-5)
    elif output == "rounded":
        np.testing.assert_allclose(answers, np.round(expected_probs, 1), atol=1e-6)
        assert np.all(np.abs(answers.sum(axis=1) - 1) <= 3 * 0.05 + 1e-6)
    else:
        assert np.all((answers > 0).sum(axis=1) == 2)


def test_a_batch_costs_one_query_per_example(service):
    before = service.usage("alice")["used"]
    response = post(service, X[:10].tolist())
    assert response.status_code == 200
    body = response.json()
    assert body["n"] == 10 and len(body["predictions"]) == 10
    assert service.usage("alice")["used"] == before + 10
    usage = requests.get(f"{service.url}/usage", headers={"X-API-Key": "alice"}, timeout=TIMEOUT).json()
    assert usage["used"] == before + 10 and usage["remaining"] == 1000 - usage["used"]


def test_health_describes_the_service(service):
    health = requests.get(f"{service.url}/health", timeout=TIMEOUT).json()
    assert health["status"] == "ok" and health["input_shape"] == [4] and health["max_batch"] == 50


# -- bad requests: a clear 4xx JSON error, never a 500, never charged -----------------------------------------------
GOOD = [0.1, 0.2, 0.3, 0.4]
BAD_REQUESTS = {
    "malformed JSON": dict(data="{inputs: [[1, 2"),
    "not an object": dict(data="[[0.1, 0.2, 0.3, 0.4]]"),
    "missing inputs": dict(data='{"x": [[0.1, 0.2, 0.3, 0.4]]}'),
    "unknown field": dict(data='{"inputs": [[0.1, 0.2, 0.3, 0.4]], "output": "probs"}'),
    "inputs not a list": dict(data='{"inputs": "0.1, 0.2"}'),
    "empty batch": dict(inputs=[]),
    "wrong shape": dict(inputs=[[0.1, 0.2, 0.3]]),
    "one example without batch axis": dict(inputs=GOOD),
    "extra axis": dict(inputs=[[GOOD]]),
    "ragged": dict(inputs=[GOOD, [0.1, 0.2]]),
    "strings": dict(inputs=[["a", "b", "c", "d"]]),
    "booleans": dict(inputs=[[True, False, True, False]]),
    "nulls": dict(inputs=[[None, 0.2, 0.3, 0.4]]),
    "NaN": dict(data='{"inputs": [[NaN, 0.2, 0.3, 0.4]]}'),
    "Infinity": dict(data='{"inputs": [[Infinity, 0.2, 0.3, 0.4]]}'),
    "too large for float32": dict(data='{"inputs": [[1e39, 0.2, 0.3, 0.4]]}'),
    "not UTF-8": dict(data=b'{"inputs": [[\xff\xfe]]}'),
    "deeply nested": dict(data="[" * 30000 + "]" * 30000),
    "missing key": dict(inputs=[GOOD], key=None),
    "wrong key": dict(inputs=[GOOD], key="mallory"),
    "batch above max_batch": dict(inputs=[GOOD] * 51),
    "body above the size limit": dict(data='{"inputs": [' + "0.1," * 100000 + "0.1]}"),
    "batch above the key's whole budget": dict(inputs=[GOOD] * 6, key="bob"),
    # Finite float32 numbers, but the model overflows on them: the client's doing (400, refunded), not a 500.
    "near the float32 limit": dict(inputs=[[3e38] * 4]),
    "near minus the float32 limit": dict(inputs=[[-3e38] * 4]),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_a_clear_4xx_json_error(service, case):
    kwargs = dict(BAD_REQUESTS[case])
    key = kwargs.pop("key", "alice")
    before = {k: service.usage(k)["used"] for k in ("alice", "bob")}
    response = post(service, key=key, **kwargs)
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text[:200])
    assert isinstance(response.json()["error"], str) and response.json()["error"]
    assert {k: service.usage(k)["used"] for k in ("alice", "bob")} == before
    assert requests.get(f"{service.url}/health", timeout=TIMEOUT).json()["status"] == "ok"
    last = service.log[-1]
    assert last["allowed"] is False and last["status"] == response.status_code


def test_expected_status_codes(service):
    assert post(service, [GOOD], key=None).status_code == 401
    assert post(service, [GOOD], key="mallory").status_code == 401
    assert post(service, [GOOD] * 51).status_code == 413
    assert requests.get(f"{service.url}/usage", timeout=TIMEOUT).status_code == 401
    assert requests.get(f"{service.url}/nowhere", timeout=TIMEOUT).json()["error"]
    assert requests.get(f"{service.url}/predict", timeout=TIMEOUT).status_code == 405


def test_a_failing_model_answers_500_json_and_refunds_the_budget():
    def broken(x):
        return np.full((len(x), 3), np.nan)

    with serve_in_background(broken, keys={"k": 10}, window_seconds=60, input_shape=(4,)) as svc:
        response = post(svc, [GOOD], key="k")
        assert response.status_code == 500 and "NaN" in response.json()["error"]
        assert svc.usage("k")["used"] == 0


def test_a_huge_field_name_is_not_echoed_back(service):
    response = post(service, data=json.dumps({"inputs": [GOOD], "A" * 65536: 1}))
    assert response.status_code == 400
    error = response.json()["error"]
    assert "unknown field" in error and "A" * 100 not in error and len(error) <= 300
    assert len(service.log[-1]["error"]) <= 300
    many = post(service, data=json.dumps({"inputs": [GOOD], **{f"f{i}": 0 for i in range(5000)}})).json()["error"]
    assert "and 4997 more" in many and len(many) <= 300


def test_top_k_beyond_the_model_classes_is_refused_at_start():
    with pytest.raises(ValueError, match="k=5 is larger than the model's 3 classes"):
        PredictionService(tiny_model, keys={"k": 1}, window_seconds=1, input_shape=(4,), output="top_k", k=5)
    with pytest.raises(ValueError, match="k=4"):
        serve_in_background(tiny_model, keys={"k": 1}, window_seconds=1, input_shape=(4,), output="top_k", k=4)
    assert PredictionService(tiny_model, keys={"k": 1}, window_seconds=1, input_shape=(4,), output="top_k",
                             k=3).health()["n_classes"] == 3


# -- budget ----------------------------------------------------------------------------------------------------------
def test_concurrent_clients_never_overspend_and_no_allowed_request_is_lost():
    budget, n_threads, per_thread = 100, 8, 30
    with serve_in_background(tiny_model, keys={"shared": budget, "other": 10}, window_seconds=3600,
                             input_shape=(4,), threads=8) as svc:
        statuses: list[int] = []
        retry_headers: list[str | None] = []
        failures: list[BaseException] = []
        lock = threading.Lock()

        def hammer():
            try:
                with requests.Session() as session:
                    for _ in range(per_thread):
                        r = session.post(f"{svc.url}/predict", json={"inputs": [GOOD]},
                                         headers={"X-API-Key": "shared"}, timeout=TIMEOUT)
                        with lock:
                            statuses.append(r.status_code)
                            if r.status_code == 429:
                                retry_headers.append(r.headers.get("Retry-After"))
            except BaseException as error:  # surfaced below, never swallowed
                failures.append(error)

        workers = [threading.Thread(target=hammer) for _ in range(n_threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert not failures and not any(w.is_alive() for w in workers)
        assert len(statuses) == n_threads * per_thread
        assert statuses.count(200) == budget
        assert statuses.count(429) == n_threads * per_thread - budget
        assert all(h is not None and int(h) >= 1 for h in retry_headers)
        log = [e for e in svc.log if e["key"] == "shared"]
        assert sum(e["n"] for e in log if e["allowed"]) == budget == svc.usage("shared")["used"]
        assert sum(1 for e in log if not e["allowed"]) == statuses.count(429)
        assert svc.usage("other")["used"] == 0
        assert post(svc, [GOOD], key="other").status_code == 200
        assert requests.get(f"{svc.url}/health", timeout=TIMEOUT).json()["status"] == "ok"


def test_budget_window_slides_and_retry_after_says_when():
    clock = FakeClock()
    with serve_in_background(tiny_model, keys={"k": 3}, window_seconds=10, input_shape=(4,), clock=clock) as svc:
        assert post(svc, [GOOD], key="k").status_code == 200        # t = 0: 1 used
        clock.now += 5
        assert post(svc, [GOOD, GOOD], key="k").status_code == 200  # t = 5: 3 used
        refused = post(svc, [GOOD], key="k")
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "5"
        clock.now += 4.9                                            # t = 9.9: nothing has left the window
        assert post(svc, [GOOD], key="k").status_code == 429
        clock.now += 0.2                                            # t = 10.1: the first query left it
        assert svc.usage("k")["used"] == 2
        assert post(svc, [GOOD], key="k").status_code == 200
        assert post(svc, [GOOD, GOOD], key="k").status_code == 429  # 3 used, 2 more do not fit
        clock.now += 5                                              # t = 15.1: only the last query remains
        assert post(svc, [GOOD, GOOD], key="k").status_code == 200


def test_query_budget_refuses_bad_settings():
    with pytest.raises(ValueError, match="keys is empty"):
        QueryBudget({}, 1)
    with pytest.raises(ValueError, match="positive integer"):
        QueryBudget({"k": 0}, 1)
    with pytest.raises(ValueError, match="window_seconds"):
        QueryBudget({"k": 1}, 0)
    with pytest.raises(ValueError, match="input_shape"):
        PredictionService(tiny_model, keys={"k": 1}, window_seconds=1)
    with pytest.raises(ValueError, match="unknown output"):
        PredictionService(tiny_model, keys={"k": 1}, window_seconds=1, input_shape=(4,), output="logits")


# -- log -------------------------------------------------------------------------------------------------------------
def test_log_is_kept_in_memory_and_as_json_lines(tmp_path):
    path = tmp_path / "queries.jsonl"
    with serve_in_background(tiny_model, keys={"k": 3}, window_seconds=60, input_shape=(4,), log_path=path) as svc:
        post(svc, [GOOD, GOOD], key="k")
        post(svc, [GOOD, GOOD], key="k")
        post(svc, [GOOD], key="nobody")
        memory = svc.log
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == memory
    assert [(e["key"], e["n"], e["allowed"], e["status"]) for e in memory] == [
        ("k", 2, True, 200), ("k", 2, False, 429), (None, 0, False, 401)]
    assert all(isinstance(e["time"], float) for e in memory)


def test_a_log_path_in_a_missing_folder_is_refused_at_start(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        serve_in_background(tiny_model, keys={"k": 1}, window_seconds=1, input_shape=(4,),
                            log_path=tmp_path / "missing" / "queries.jsonl")


def test_a_log_line_that_cannot_be_written_is_refunded_and_refusals_keep_their_answer(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    path = folder / "queries.jsonl"
    with serve_in_background(tiny_model, keys={"k": 1}, window_seconds=60, input_shape=(4,), log_path=path) as svc:
        shutil.rmtree(folder)  # the log's folder goes away while the service runs
        failed = post(svc, [GOOD], key="k")
        assert failed.status_code == 500 and "could not write its query log" in failed.json()["error"]
        assert svc.usage("k")["used"] == 0
        assert post(svc, [GOOD], key=None).status_code == 401       # refusals still get their own answer
        assert post(svc, [GOOD, GOOD], key="k").status_code == 413
        assert svc.core.log_write_failures == 4  # the allowed line, its 500 line, the two refusals
        folder.mkdir()  # writable again: served and charged as usual
        assert post(svc, [GOOD], key="k").status_code == 200 and svc.usage("k")["used"] == 1
        assert post(svc, [GOOD], key="k").status_code == 429
        memory = svc.log
    assert [(e["key"], e["n"], e["allowed"], e["status"]) for e in memory] == [
        ("k", 1, False, 500), (None, 0, False, 401), ("k", 2, False, 413), ("k", 1, True, 200), ("k", 1, False, 429)]
    assert [json.loads(line) for line in path.read_text().splitlines()] == memory[-2:]


def test_keyless_refusals_keep_memory_and_the_log_file_bounded(tmp_path):
    path = tmp_path / "queries.jsonl"
    core = PredictionService(tiny_model, keys={"k": 1}, window_seconds=60, input_shape=(4,), log_path=path,
                             max_log_entries=1000, max_log_bytes=100_000)
    body = json.dumps({"inputs": [GOOD]}).encode()
    total = 100_000
    try:
        for i in range(total):
            if i == total - 20_000:  # traced at the end only (tracing triples the cost of a call)
                tracemalloc.start()
            if i == total - 10_000:
                halfway = tracemalloc.get_traced_memory()[0]
            try:
                if i % 2:
                    core.predict(None, body)
                else:
                    core.refuse(None, ApiError(413, "the request body is too large"))
            except ApiError:
                pass
        growth = tracemalloc.get_traced_memory()[0] - halfway
    finally:
        tracemalloc.stop()
    assert growth < 200_000  # the last 10,000 refusals add (almost) nothing: 10,000 entries would take ~4 MB
    assert len(core.log) == 1000 and core.log_dropped == total - 1000
    backup = tmp_path / "queries.jsonl.1"
    longest = max(len(line) + 1 for line in path.read_text().splitlines())
    assert path.stat().st_size <= 100_000 + longest and backup.stat().st_size <= 100_000 + longest
    on_disk = len(path.read_text().splitlines()) + len(backup.read_text().splitlines())
    assert on_disk + core.log_file_dropped == total and core.log_write_failures == 0
    assert json.loads(path.read_text().splitlines()[-1]) == core.log[-1]


# -- lifecycle -------------------------------------------------------------------------------------------------------
def test_stop_frees_the_port_and_every_thread():
    before = set(threading.enumerate())
    svc = serve_in_background(tiny_model, keys={"k": 5}, window_seconds=60, input_shape=(4,), threads=3)
    port = svc.port
    assert post(svc, [GOOD], key="k").status_code == 200  # leaves a kept-alive connection open
    assert svc.running
    svc.stop()
    svc.stop()  # idempotent
    assert not svc.running
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{svc.url}/health", timeout=TIMEOUT)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:  # a new server could listen there again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen(1)


def test_stop_survives_a_wake_up_that_runs_its_close_early():
    """Another thread's wake-up byte can make the event loop run stop()'s close before stop() writes its own byte
    (waitress queues the thunk first, then writes); stop() must not then write to a closed pipe (seen in CI)."""
    svc = serve_in_background(tiny_model, keys={"k": 5}, window_seconds=60, input_shape=(4,))
    trigger = svc._server.trigger
    write_wake_up = trigger._physical_pull

    def wake_up_late():
        os.write(trigger.trigger, b"x")  # a worker's wake-up arrives first, and the loop runs the queued close...
        time.sleep(0.3)                   # ...while stop() has not yet written its own byte
        write_wake_up()

    trigger._physical_pull = wake_up_late
    svc.stop()
    assert not svc.running


def test_stop_answers_a_request_in_flight_and_refuses_new_ones(tmp_path):
    path = tmp_path / "queries.jsonl"
    model = SlowModel()
    svc = serve_in_background(model, keys={"k": 10}, window_seconds=60, input_shape=(4,), log_path=path)
    answer, at_return = {}, {}
    client = threading.Thread(target=lambda: answer.update(response=post(svc, [GOOD], key="k")))
    client.start()
    assert model.entered.wait(TIMEOUT)

    def stop():
        svc.stop(timeout=TIMEOUT)
        at_return.update(log=svc.log, lines=path.read_text().splitlines(), used=svc.usage("k")["used"])

    stopper = threading.Thread(target=stop)
    stopper.start()
    assert wait_until(lambda: not svc.core.accepting)
    late = post(svc, [GOOD], key="k")  # arrives while stop() waits: refused, not charged, not logged
    assert late.status_code == 503 and "stopping" in late.json()["error"]
    assert svc.usage("k")["used"] == 1 and stopper.is_alive()
    model.release.set()
    stopper.join(TIMEOUT)
    client.join(TIMEOUT)
    assert not stopper.is_alive() and not client.is_alive()
    response = answer["response"]
    assert response.status_code == 200
    np.testing.assert_allclose(response.json()["predictions"], outputs.softmax(tiny_model(np.array([GOOD]))),
                               rtol=1e-5)
    assert [(e["key"], e["n"], e["allowed"], e["status"]) for e in at_return["log"]] == [("k", 1, True, 200)]
    assert [json.loads(line) for line in at_return["lines"]] == at_return["log"] and at_return["used"] == 1
    assert svc.log == at_return["log"] and path.read_text().splitlines() == at_return["lines"]


def test_stop_refunds_a_request_that_outlasts_its_timeout_and_nothing_changes_after(tmp_path):
    path = tmp_path / "queries.jsonl"
    model = SlowModel()
    before = set(threading.enumerate())
    svc = serve_in_background(model, keys={"k": 10}, window_seconds=60, input_shape=(4,), log_path=path)
    outcome = {}

    def ask():
        try:
            outcome["status"] = post(svc, [GOOD], key="k").status_code
        except requests.RequestException as error:
            outcome["error"] = error

    client = threading.Thread(target=ask)
    client.start()
    assert model.entered.wait(TIMEOUT)
    assert svc.usage("k")["used"] == 1
    svc.stop(timeout=0.2)
    assert svc.usage("k")["used"] == 0 and svc.log == [] and not path.exists()
    model.release.set()  # the model answers after stop() returned...
    for thread in set(threading.enumerate()) - before:
        thread.join(TIMEOUT)  # ...and its worker thread runs to its end
    assert set(threading.enumerate()) - before == set()
    assert svc.usage("k")["used"] == 0 and svc.log == [] and not path.exists()
    assert outcome.get("status") != 200


def test_a_busy_port_leaves_no_thread_or_socket_behind():
    def open_fds():
        return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        gc.collect()
        threads_before, fds_before = set(threading.enumerate()), open_fds()
        with pytest.raises(OSError):
            serve_in_background(tiny_model, keys={"k": 1}, window_seconds=1, input_shape=(4,),
                                port=busy.getsockname()[1], threads=3)
        gc.collect()
        assert set(threading.enumerate()) - threads_before == set()
        if fds_before is not None:
            assert open_fds() <= fds_before


@contextlib.contextmanager
def open_files_limit(needed: int):
    """Raise the soft limit of open files to ``needed`` for the block (up to the hard limit), or skip the test."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} open files (500 client and 500 server sockets); the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_idle_connections_do_not_lock_out_a_client():
    with open_files_limit(4096), serve_in_background(tiny_model, keys={"k": 100}, window_seconds=60,
                                                     input_shape=(4,), idle_timeout=60) as svc:
        idle = []
        try:
            for _ in range(500):
                idle.append(socket.create_connection(("127.0.0.1", svc.port), timeout=TIMEOUT))
            with ServiceClient(svc.url, "k", timeout=5) as client:  # served while the 500 stay open
                np.testing.assert_allclose(client.query(X), outputs.softmax(tiny_model(X)), rtol=1e-5)
            for sock in idle:
                sock.setblocking(False)
                with pytest.raises(BlockingIOError):  # still open: nothing to read, no end of stream
                    sock.recv(1)
        finally:
            for sock in idle:
                sock.close()


def test_idle_connections_are_dropped_after_the_idle_timeout():
    with serve_in_background(tiny_model, keys={"k": 1}, window_seconds=60, input_shape=(4,), idle_timeout=1) as svc:
        idle = [socket.create_connection(("127.0.0.1", svc.port), timeout=TIMEOUT) for _ in range(20)]
        try:
            for sock in idle:
                with contextlib.suppress(ConnectionResetError):
                    assert sock.recv(1) == b""  # closed by the service (a timeout here fails the test)
        finally:
            for sock in idle:
                sock.close()


def test_a_connection_that_trickles_its_request_is_dropped():
    request = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 1000
    with serve_in_background(tiny_model, keys={"k": 1}, window_seconds=60, input_shape=(4,), idle_timeout=1) as svc, \
            socket.create_connection(("127.0.0.1", svc.port), timeout=TIMEOUT) as sock:
        sock.settimeout(0.3)  # one byte every 0.3 s: never idle for the 1 s idle timeout
        start, closed = time.monotonic(), False
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
                closed = sock.recv(1) == b""
            except socket.timeout:
                continue
            except OSError:
                closed = True
            if closed or time.monotonic() - start > TIMEOUT:
                break
        assert closed and time.monotonic() - start < TIMEOUT


def test_serve_refuses_bad_arguments():
    with pytest.raises(ValueError, match="port"):
        serve_in_background(tiny_model, keys={"k": 1}, window_seconds=1, input_shape=(4,), port=-1)
    with pytest.raises(ValueError, match="cannot serve"):
        serve_in_background(object(), keys={"k": 1}, window_seconds=1, input_shape=(4,))


# -- client ----------------------------------------------------------------------------------------------------------
def test_client_spends_the_whole_budget_then_raises_with_partial_answers():
    with serve_in_background(tiny_model, keys={"k": 7}, window_seconds=60, input_shape=(4,)) as svc, \
            ServiceClient(svc.url, "k", timeout=TIMEOUT) as client:
        first = client.query(X[:3])
        assert first.shape == (3, 3) and client.queries_used == 3
        with pytest.raises(BudgetExhausted) as refused:
            client.query(X[3:])
        assert refused.value.partial.shape == (4, 3)  # the 4 examples left in the budget were answered
        assert refused.value.retry_after >= 1
        assert client.queries_used == 7 == svc.usage("k")["used"]
        np.testing.assert_allclose(refused.value.partial, outputs.softmax(tiny_model(X[3:7])), rtol=1e-5)


def test_client_adapts_size_one_axes_and_reports_refusals():
    def column_model(x):  # takes (n, 4, 1); the client will send (n, 4)
        assert x.shape[1:] == (4, 1)
        return tiny_model(x.reshape(len(x), 4))

    with serve_in_background(column_model, keys={"k": 50}, window_seconds=60, input_shape=(4, 1),
                             max_batch=5) as svc:
        with ServiceClient(svc.url, "k", timeout=TIMEOUT) as client:
            answers = client.query(X)  # 12 examples in batches of at most 5
            assert answers.shape == (12, 3) and client.requests_sent == 3
            with pytest.raises(ValueError, match="shape"):
                client.query(np.zeros((2, 3)))
            with pytest.raises(ValueError, match="NaN"):
                client.query(np.full((2, 4), np.nan))
        with ServiceClient(svc.url, "wrong", timeout=TIMEOUT) as intruder, pytest.raises(ServiceError) as refused:
            intruder.query(X)
        assert refused.value.status == 401


def test_a_keras_model_is_served_from_worker_threads():
    tf = pytest.importorskip("tensorflow")
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Input((4,)), tf.keras.layers.Dense(3)])
    expected = outputs.softmax(model(X, training=False).numpy())
    with serve_in_background(model, keys={"k": 100}, window_seconds=60, threads=4) as svc:
        results: list[np.ndarray] = []

        def ask():
            with ServiceClient(svc.url, "k", timeout=TIMEOUT) as client:
                results.append(client.query(X))

        workers = [threading.Thread(target=ask) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
    assert len(results) == 4
    for answers in results:
        np.testing.assert_allclose(answers, expected, rtol=1e-5, atol=1e-6)
