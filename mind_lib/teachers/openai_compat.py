"""A teacher behind an OpenAI-compatible chat-completions endpoint (vLLM, SGLang, llama.cpp server,
hosted APIs), through the official ``openai`` client.

The retry policy is ours, not the client's (``max_retries=0``): it has to cover failures the client
does not retry (a 200 whose body is not JSON or has no usable choice), it has to be fast in tests
(``backoff_base_s``), and a question that keeps failing must become ``None`` for that question only,
so one bad request never costs the rest of a batch.

Failure classes:

- transient (retried with exponential backoff + jitter, honouring a numeric ``Retry-After``):
  429, 408, 409, 5xx, connection errors, timeouts, malformed or unparseable bodies;
- per-question (no retry, ``None``): other 4xx, e.g. a 400 for a prompt over the context length;
- configuration (raised, aborting the batch): 401, 403, 404 (wrong key, model name or URL); every
  question would fail the same way, and a loud error beats a file of ``None`` rows.

Samples: with ``n_mode="n"`` (default) one request asks for ``n`` choices (vLLM, SGLang and OpenAI
honour ``n``); a server that ignores ``n`` and answers fewer is topped up by further requests, one
per missing batch of choices, each with its own seed. ``n_mode="separate"`` sends ``n`` requests of
one choice each, for servers that reject ``n > 1``. With ``temperature == 0`` one greedy answer is
requested and repeated ``n`` times. Each request carries a seed derived from the collection seed,
the question id and the request's round, so servers that honour ``seed`` (vLLM, SGLang, llama.cpp)
reproduce a resumed collection.
"""
from __future__ import annotations

import json
import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Sequence
from urllib.parse import urlparse

import openai

from mind_lib.params.collect import TeacherSpec
from mind_lib.tasks.base import Example
from mind_lib.teachers.base import PromptedTeacher, derive_seed, spec_kwargs
from mind_lib.teachers.prompts import trim_rationale

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
RETRY_STATUS = {408, 409, 429}  # plus every 5xx
FATAL_ERRORS = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)


class MalformedResponse(Exception):
    """The endpoint answered 2xx but the body holds no list of choices with text."""


class QuestionFailed(Exception):
    """One question could not be answered; ``attempts`` requests were made for the failing round."""

    def __init__(self, error: Exception, attempts: int):
        super().__init__(f"{type(error).__name__}: {error}")
        self.error, self.attempts = error, attempts


def _is_transient(err: Exception) -> bool:
    if isinstance(err, (openai.APIConnectionError, MalformedResponse, json.JSONDecodeError)):
        return True
    return isinstance(err, openai.APIStatusError) and (err.status_code in RETRY_STATUS or err.status_code >= 500)


def _retry_after_s(err: Exception | None) -> float | None:
    """A numeric ``Retry-After`` header of a status error, in seconds (HTTP dates are ignored)."""
    response = getattr(err, "response", None)
    try:
        return float(response.headers["retry-after"]) if response is not None else None
    except (KeyError, ValueError):
        return None


def _choice_texts(response: Any) -> list[str]:
    """The choices' message texts in index order; anything else is a ``MalformedResponse``.

    The client does not validate bodies: a non-JSON content type comes back as a plain string and
    a JSON object of the wrong shape as a half-filled model, so the shape is checked here.
    """
    try:
        choices = sorted(response.choices, key=lambda c: c.index or 0)
        texts = [c.message.content for c in choices]
    except (AttributeError, TypeError) as e:
        raise MalformedResponse(f"no choices in response: {e}") from None
    if not texts or not all(isinstance(t, str) for t in texts):
        raise MalformedResponse(f"expected choices with message text, got {texts!r:.200}")
    return texts


class OpenAICompatTeacher(PromptedTeacher):
    """Rationales from a chat-completions endpoint, ``max_concurrency`` questions in flight at a time.

    Questions run on a thread pool with the synchronous client rather than ``AsyncOpenAI``: that
    works the same from scripts and from notebooks, whose kernel already runs an event loop.
    ``timeout_s`` bounds each phase of one request (connect, each read), not the question's retries.
    The key is read from the environment variable ``api_key_env``, never from params. The paradigm
    teachers of one spec are copies sharing one client (``PromptedTeacher.for_paradigm``).
    """

    def __init__(self, model: str, *, name: str | None = None, perspective: str | None = None,
                 base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY", temperature: float = 0.7,
                 top_p: float = 1.0, max_new_tokens: int = 256, n_mode: Literal["n", "separate"] = "n",
                 send_seed: bool = True, extra_body: dict[str, Any] | None = None, max_concurrency: int = 8,
                 timeout_s: float = 120.0, max_retries: int = 5, backoff_base_s: float = 1.0,
                 backoff_max_s: float = 60.0):
        self.name = name or model
        self.perspective = perspective or self.name
        if n_mode not in ("n", "separate"):
            raise ValueError(f"teacher {self.name!r}: n_mode must be 'n' or 'separate', got {n_mode!r}")
        if max_concurrency < 1 or timeout_s <= 0 or max_retries < 0 or backoff_base_s < 0 or backoff_max_s < 0:
            raise ValueError(f"teacher {self.name!r}: need max_concurrency >= 1, timeout_s > 0, max_retries >= 0 "
                             "and non-negative backoff")
        self.model, self.temperature, self.top_p, self.max_new_tokens = model, temperature, top_p, max_new_tokens
        self.n_mode, self.send_seed, self.extra_body = n_mode, send_seed, dict(extra_body or {})
        self.max_concurrency, self.timeout_s, self.max_retries = max_concurrency, timeout_s, max_retries
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s

        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.api_key_env = api_key_env
        api_key = os.environ.get(api_key_env)
        if not api_key:
            if urlparse(self.base_url).hostname not in LOCAL_HOSTS:
                raise ValueError(f"teacher {self.name!r}: environment variable {api_key_env} holds no API key "
                                 f"for {self.base_url} (local servers default to 'EMPTY')")
            api_key = "EMPTY"  # what vLLM/SGLang/llama.cpp accept when started without --api-key
        self.client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout_s, max_retries=0)

    @classmethod
    def from_spec(cls, spec: TeacherSpec) -> "OpenAICompatTeacher":
        """Build from a ``collect.teachers`` entry; ``options`` may set top_p, n_mode, send_seed,
        extra_body, max_concurrency, timeout_s, max_retries, backoff_base_s and backoff_max_s."""
        if spec.backend != "openai":
            raise ValueError(f"teacher {spec.name!r}: OpenAICompatTeacher needs backend 'openai', got {spec.backend!r}")
        return cls(**spec_kwargs(spec, cls, model=spec.model, name=spec.name,
                                 perspective=spec.perspective or spec.name, base_url=spec.base_url,
                                 api_key_env=spec.api_key_env, temperature=spec.temperature,
                                 max_new_tokens=spec.max_new_tokens))

    # -- one request ---------------------------------------------------------------------------

    def _request(self, example: Example, count: int, seed: int) -> list[str]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": self.messages(example),
                                  "temperature": self.temperature, "top_p": self.top_p,
                                  "max_tokens": self.max_new_tokens}
        if count > 1:  # only when needed: some servers reject the parameter altogether
            kwargs["n"] = count
        if self.send_seed:
            kwargs["seed"] = seed
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body
        return _choice_texts(self.client.chat.completions.create(**kwargs))

    def _backoff_s(self, attempt: int, err: Exception | None) -> float:
        """Exponential delay with equal jitter (so parallel workers spread out), at least Retry-After."""
        delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        delay = delay / 2 + random.uniform(0, delay / 2)
        hint = _retry_after_s(err)
        return min(self.backoff_max_s, max(delay, hint)) if hint is not None else delay

    def _request_with_retries(self, example: Example, count: int, seed: int) -> list[str]:
        err: Exception | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._backoff_s(attempt, err))
            try:
                return self._request(example, count, seed)
            except FATAL_ERRORS as e:
                raise RuntimeError(f"teacher {self.name!r}: {self.base_url} refused model {self.model!r} "
                                   f"({type(e).__name__}: {e}); check base_url, model and {self.api_key_env}") from e
            except Exception as e:  # noqa: BLE001 - sorted below; unknown errors must not kill the batch
                err = e
                if not _is_transient(e):
                    raise QuestionFailed(e, attempt + 1) from e
                log.debug("teacher %r: question %s attempt %d failed: %s", self.name, example.id, attempt + 1, e)
        raise QuestionFailed(err, self.max_retries + 1)

    # -- one question ----------------------------------------------------------------------------

    def _sample(self, example: Example, n: int, seed: int) -> list[str]:
        """``n`` rationales for one question; raises ``QuestionFailed`` if any request gives up."""
        if self.temperature == 0:
            texts = self._request_with_retries(example, 1, derive_seed(*self.seed_parts(seed), example.id, 0))[:1] * n
        else:
            texts = []
            for round_ in range(n):  # every successful round adds at least one choice: n rounds suffice
                want = 1 if self.n_mode == "separate" else n - len(texts)
                round_seed = derive_seed(*self.seed_parts(seed), example.id, round_)
                texts += self._request_with_retries(example, want, round_seed)[:want]
                if len(texts) == n:
                    break
        return [trim_rationale(t) for t in texts]

    def _sample_or_none(self, example: Example, n: int, seed: int) -> list[str] | None:
        try:
            return self._sample(example, n, seed)
        except QuestionFailed as e:
            log.warning("teacher %r: question %s failed after %d attempt(s): %s",
                        self.name, example.id, e.attempts, e)
            return None

    def generate(self, examples: Sequence[Example], n: int, seed: int) -> list[list[str] | None]:
        """``n`` rationales per example, ``None`` where an example failed after retries.

        Raises only for configuration errors (401/403/404); queued questions are then cancelled and
        those in flight finish (bounded by their retries) before the error propagates.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if not examples:
            return []
        pool = ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(examples)),
                                  thread_name_prefix=f"teacher-{self.name}")
        try:
            futures = [pool.submit(self._sample_or_none, e, n, seed) for e in examples]
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def provenance(self) -> dict[str, Any]:
        return {"backend": "openai", "base_url": self.base_url, "model": self.model, "prompt": self.prompt_version(),
                "temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
                "n_mode": self.n_mode, "send_seed": self.send_seed, "extra_body": self.extra_body}

    def close(self) -> None:
        """Release the client's connection pool."""
        self.client.close()
