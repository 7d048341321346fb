"""OpenAICompatTeacher against a scripted fake chat-completions server on 127.0.0.1.

Each question's requests follow a script of actions: an HTTP status, "malformed" (a truncated JSON
body), "text" (a 200 that is not JSON), "shape" (JSON without message text), "one" (ignore ``n``),
("slow", seconds); unscripted requests succeed, with ``FakeServer.reply`` (an echo ending in "The answer
is 7.") or, when set, ``responder(body)``'s text (a judge's verdict). The server records every request and
the most requests in flight at once.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Callable

import pytest

from mind_lib.answers import extract_answer
from mind_lib.params.collect import TeacherSpec
from mind_lib.tasks.base import Example
from mind_lib.teachers.openai_compat import OpenAICompatTeacher
from mind_lib.teachers.registry import build_teacher

EXAMPLES = [Example(f"q{i}", f"What is {i} plus 2?", str(i + 2), "number", "train") for i in range(4)]
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 2.0}


class FakeServer:
    """A ThreadingHTTPServer serving /v1/chat/completions from per-question scripts."""

    def __init__(self, delay_s: float = 0.0):
        self.script: dict[str, list] = {}
        self.responder: Callable[[dict], str] | None = None  # request body -> reply text, instead of the echo
        self.delay_s = delay_s
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.release = threading.Event()  # set at shutdown so slow handlers end at once
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    server.handle(self)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def count(self, question: str) -> int:
        return sum(r["messages"][-1]["content"] == question for r in self.requests)

    @staticmethod
    def reply(question: str, seed, i: int) -> str:
        return f"Echo: {question} seed={seed} choice={i}. So it is done. The answer is 7.\n\nQ: extra"

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        question = body["messages"][-1]["content"]
        with self.lock:
            self.requests.append(body)
            self.headers.append({k.lower(): v for k, v in h.headers.items()})
            steps = self.script.get(question)
            action = steps.pop(0) if steps else "ok"
        self.release.wait(self.delay_s)
        if isinstance(action, tuple):  # ("slow", seconds): answer correctly, but late
            self.release.wait(action[1])
            action = "ok"
        if isinstance(action, int):
            return self.send(h, action, json.dumps({"error": {"message": f"scripted {action}"}}).encode())
        if action == "malformed":
            return self.send(h, 200, b'{"choices": [ {"message": ')
        if action == "text":
            return self.send(h, 200, b"Internal proxy page", "text/html")
        if action == "shape":  # valid JSON, but no choice carries text
            return self.send(h, 200, b'{"object": "chat.completion", "choices": [{"index": 0, "message": {}}]}')
        n = 1 if action == "one" else body.get("n", 1)
        choices = [{"index": i, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": self.responder(body) if self.responder
                                else self.reply(question, body.get("seed"), i)}}
                   for i in range(n)]
        self.send(h, 200, json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                      "model": body["model"], "choices": choices}).encode())

    @staticmethod
    def send(h, status: int, payload: bytes, content_type: str = "application/json") -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)


@pytest.fixture(autouse=True)
def _local_only(monkeypatch):
    """No proxy may reroute the 127.0.0.1 traffic, and no real key or base URL leaks in."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
                "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def server():
    srv = FakeServer()
    srv.thread.start()
    yield srv
    srv.release.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join(timeout=5)


def make_teacher(url: str, **kw) -> OpenAICompatTeacher:
    return OpenAICompatTeacher("fake-model", name="fake", base_url=url, **{"temperature": 0.8, **FAST, **kw})


def test_success_returns_n_trimmed_rationales_per_question(server):
    teacher = make_teacher(server.url)
    out = teacher.generate(EXAMPLES, n=3, seed=5)
    assert [len(r) for r in out] == [3, 3, 3, 3]
    for e, rationales in zip(EXAMPLES, out):
        assert all(r.startswith(f"Echo: {e.question}") and r.endswith("The answer is 7.") for r in rationales)
        assert [r.split("choice=")[1][0] for r in rationales] == ["0", "1", "2"]
        assert extract_answer(rationales[0], e.kind) == "7"
    assert len(server.requests) == 4 and all(r["n"] == 3 for r in server.requests)  # one request per question
    body = server.requests[0]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("fake-model", 0.8, 256)
    assert body["messages"][0]["role"] == "system" and "The answer is X." in body["messages"][0]["content"]
    assert server.headers[0]["authorization"] == "Bearer EMPTY"  # local URL, no key set
    # seeds are derived per question, stable across calls, different for another base seed
    seeds = {r["messages"][-1]["content"]: r["seed"] for r in server.requests}
    assert len(set(seeds.values())) == 4
    teacher.generate(EXAMPLES[:1], n=3, seed=5)
    teacher.generate(EXAMPLES[:1], n=3, seed=6)
    assert server.requests[-2]["seed"] == seeds[EXAMPLES[0].question] != server.requests[-1]["seed"]
    teacher.close()


@pytest.mark.parametrize("failures", [[429], [500, 503], ["malformed"], ["text"], ["shape"], [429, "malformed", 502]])
def test_transient_failures_are_retried_until_success(server, failures):
    q = EXAMPLES[1].question
    server.script[q] = list(failures)
    out = make_teacher(server.url).generate(EXAMPLES[:2], n=2, seed=0)
    assert all(r is not None and len(r) == 2 for r in out)
    assert server.count(q) == len(failures) + 1
    assert server.count(EXAMPLES[0].question) == 1


def test_a_question_failing_for_good_is_none_and_the_others_are_kept(server, caplog):
    bad = EXAMPLES[2]
    server.script[bad.question] = [500] * 10
    server.script[EXAMPLES[3].question] = [400]  # not transient: no retry, None at once
    with caplog.at_level(logging.WARNING, logger="mind_lib.teachers.openai_compat"):
        out = make_teacher(server.url, max_retries=3).generate(EXAMPLES, n=2, seed=0)
    assert out[2] is None and out[3] is None
    assert out[0] is not None and out[1] is not None and len(out[0]) == 2
    assert server.count(bad.question) == 4 and server.count(EXAMPLES[3].question) == 1
    warnings = [r.getMessage() for r in caplog.records]
    assert any("q2" in w and "4 attempt" in w and "InternalServerError" in w for w in warnings), warnings
    assert any("q3" in w and "BadRequestError" in w for w in warnings), warnings


def test_configuration_errors_raise(server):
    server.script[EXAMPLES[0].question] = [404]
    with pytest.raises(RuntimeError, match=r"fake-model.*NotFoundError"):
        make_teacher(server.url).generate(EXAMPLES[:1], n=1, seed=0)
    assert server.count(EXAMPLES[0].question) == 1


def test_timeout_is_honoured_and_retried(server):
    q = EXAMPLES[0].question
    server.script[q] = [("slow", 5.0)]
    start = time.monotonic()
    out = make_teacher(server.url, timeout_s=0.3).generate(EXAMPLES[:1], n=1, seed=0)
    assert time.monotonic() - start < 2.5
    assert out[0] is not None and server.count(q) == 2

    server.script[q] = [("slow", 5.0)] * 2
    start = time.monotonic()
    assert make_teacher(server.url, timeout_s=0.3, max_retries=1).generate(EXAMPLES[:1], n=1, seed=0) == [None]
    assert time.monotonic() - start < 2.5


def test_concurrency_limit_is_honoured(server):
    server.delay_s = 0.15
    examples = [Example(f"c{i}", f"Concurrent question {i}?", "7", "number", "train") for i in range(8)]
    out = make_teacher(server.url, max_concurrency=3).generate(examples, n=1, seed=0)
    assert all(r is not None for r in out)
    assert server.max_in_flight == 3  # 8 questions of 0.15 s each: the limit is reached, never passed
    server.max_in_flight = 0
    make_teacher(server.url, max_concurrency=1).generate(examples[:3], n=1, seed=0)
    assert server.max_in_flight == 1


def test_server_ignoring_n_is_topped_up_and_separate_mode(server):
    q = EXAMPLES[0].question
    server.script[q] = ["one"]
    out = make_teacher(server.url).generate(EXAMPLES[:1], n=3, seed=0)
    assert len(out[0]) == 3 and [r["n"] for r in server.requests] == [3, 2]
    assert server.requests[0]["seed"] != server.requests[1]["seed"]

    server.requests.clear()
    out = make_teacher(server.url, n_mode="separate").generate(EXAMPLES[:1], n=3, seed=0)
    assert len(out[0]) == 3 and len(server.requests) == 3 and all("n" not in r for r in server.requests)
    assert len({r["seed"] for r in server.requests}) == 3 and len(set(out[0])) == 3


def test_greedy_requests_one_answer_and_repeats_it(server):
    out = make_teacher(server.url, temperature=0.0).generate(EXAMPLES[:2], n=3, seed=0)
    assert all(len(set(r)) == 1 and len(r) == 3 for r in out)
    assert len(server.requests) == 2 and all("n" not in r and r["temperature"] == 0 for r in server.requests)


def test_unreachable_endpoint_gives_all_none_quickly(caplog):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mind_lib.teachers.openai_compat"):
        out = make_teacher(f"http://127.0.0.1:{port}/v1", max_retries=2).generate(EXAMPLES, n=2, seed=0)
    assert out == [None] * len(EXAMPLES)
    assert time.monotonic() - start < 5
    assert sum("APIConnectionError" in r.getMessage() for r in caplog.records) == len(EXAMPLES)


def test_from_spec_key_and_base_url_from_environment(server, monkeypatch):
    spec = TeacherSpec(name="endpoint", backend="openai", model="fake-model", api_key_env="MY_TEACHER_KEY",
                       temperature=0.3, max_new_tokens=32, options={**FAST, "max_concurrency": 2})
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("MY_TEACHER_KEY", "sk-local-test")
    teacher = build_teacher(spec)
    assert isinstance(teacher, OpenAICompatTeacher) and teacher.perspective == "endpoint"
    assert len(teacher.generate(EXAMPLES[:2], n=1, seed=0)[0]) == 1
    assert server.headers[-1]["authorization"] == "Bearer sk-local-test"
    assert (server.requests[-1]["temperature"], server.requests[-1]["max_tokens"]) == (0.3, 32)
    prov = teacher.provenance()
    assert prov["backend"] == "openai" and prov["base_url"] == server.url and prov["model"] == "fake-model"
    assert "sk-local-test" not in json.dumps(prov)

    remote = spec.model_copy(update={"base_url": "https://api.example.invalid/v1", "api_key_env": "UNSET_KEY_VAR"})
    with pytest.raises(ValueError, match="UNSET_KEY_VAR"):
        build_teacher(remote)
    with pytest.raises(ValueError, match=r"unknown option.*max_concurency"):
        build_teacher(spec.model_copy(update={"options": {"max_concurency": 2}}))


def test_backoff_grows_is_capped_jittered_and_honours_retry_after():
    teacher = make_teacher("http://127.0.0.1:9/v1", backoff_base_s=0.1, backoff_max_s=0.4)
    for attempt, full in [(1, 0.1), (2, 0.2), (3, 0.4), (6, 0.4)]:
        delays = [teacher._backoff_s(attempt, None) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays) and len(set(delays)) > 1
    rate_limited = SimpleNamespace(response=SimpleNamespace(headers={"retry-after": "0.3"}))
    assert 0.3 <= teacher._backoff_s(1, rate_limited) <= 0.4
    slow_down = SimpleNamespace(response=SimpleNamespace(headers={"retry-after": "30"}))
    assert teacher._backoff_s(1, slow_down) == 0.4  # never beyond backoff_max_s
