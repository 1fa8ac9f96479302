"""An OpenAI-compatible LLM server for demos, tests and benchmarks.

It serves ``POST /v1/chat/completions`` (streaming SSE and not, with
``stream_options.include_usage`` honoured as OpenAI does: every chunk carries
``"usage": null`` and a last chunk with empty ``choices`` carries the usage) and
``GET /v1/models``, over a real socket, so the engine's real HTTP code path runs.

Behaviour comes from three places, later ones winning:

1. the server's :class:`SimConfig` (``manage.py llm_simulator --ttft-ms … --fault-rate …``);
2. directives in the model name: ``demo-fast@ttft=150,gap=15,len=60,fault=cut,lang=ja``
   (``stamp=1`` writes the send time of the first token into it, for latency benchmarks;
   ``first=long`` / ``first=lang`` / ``first=long+lang`` writes copy four times too long and/or
   in another language until the request carries copy-check feedback, then obeys it: short
   enough for the limit the feedback names, in the model's language);
3. a queue of one-shot faults, pushed with ``POST /_sim/faults {"faults": ["429", "500"]}``
   (or :meth:`Simulator.push_faults`), consumed one per request.

Faults: ``429`` (with ``retry-after-ms``), ``500``, ``503``, ``401``, ``400`` (context too long),
``cut`` (stream cut mid-way, no ``[DONE]``), ``nousage`` (no usage chunk even when asked),
``malformed`` (a broken ``data:`` line), ``empty`` (200 with an empty stream),
``error_event`` (an error object inside the stream).

Every completion it sends is recorded (``GET /_sim/completions``), so tests compare what
was stored with what was sent.

Usage is reported the way real providers do:

- a prefix cache per model: the prompt's leading bytes, in blocks of 64 tokens (256 bytes;
  OpenAI caches 1,024 + 128n tokens, scaled down), that an earlier request on the same model
  already sent are reported as cached tokens (``cache=0`` turns it off);
- in the shape of ``usage=openai`` (``prompt_tokens_details.cached_tokens``, the default),
  ``usage=deepseek`` (``prompt_cache_hit_tokens``/``prompt_cache_miss_tokens``, plus the same
  hits as ``cached_tokens``, as newer DeepSeek answers do) or ``usage=openrouter`` (also
  ``cache_write_tokens``: the blocks written to the cache by this request);
- ``reasoning=N``: N reasoning tokens, counted in ``completion_tokens``
  (``completion_tokens_details.reasoning_tokens``);
- ``reasoner=1`` answers 400 to ``max_tokens`` and to a temperature other than 1, as
  OpenAI's reasoning models do.

With a gRPC port it also serves Triton's ``GRPCInferenceService`` (``ModelStreamInfer`` for
the vLLM and TensorRT-LLM presets) with the same knobs: see :mod:`campaigns.simulator_grpc`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

__all__ = ["PrefixCache", "SimConfig", "Simulator", "count_prompt_tokens", "make_usage", "parse_model_directives"]

WORDS_EN = (
    "bold crafted everyday effortless fresh bright smooth lasting premium honest gentle clever "
    "light durable vivid warm clean quiet sharp comfortable reliable natural simple elegant "
    "design comfort style quality detail feel moment journey favorite essential upgrade made "
    "for you every day with care and love that works wherever life takes you built to last"
).split()
WORDS_JA = "毎日 の 暮らし に 寄り添う 上質 な デザイン 心地よい 使い やすさ 長く 愛せる 一品 です 。".split()
WORDS_ZH = "精心 设计 的 日常 好物 舒适 耐用 简约 优雅 让 生活 更 美好 。".split()
WORDS_FR = (
    "une création élégante pour chaque jour avec douceur et confiance qui dure longtemps légère "
    "fraîche naturelle pensée pour vous partout où la vie vous emmène simplement belle"
).split()
VOCAB = {"en": WORDS_EN, "ja": WORDS_JA, "zh": WORDS_ZH, "fr": WORDS_FR}
FEEDBACK_HEADER = "Your copy did not pass these checks:"
"""How the engine's rewrite requests begin (campaigns.engine.checks.FEEDBACK_HEADER)."""
FAULTS = ("429", "500", "503", "401", "400", "cut", "nousage", "malformed", "empty", "error_event")


@dataclass(frozen=True)
class SimConfig:
    ttft_ms: float = 150.0
    gap_ms: float = 15.0
    length: int = 48
    """Completion tokens per answer (capped by the request's max_tokens)."""
    jitter: float = 0.3
    """Relative random spread of ttft, gap and length."""
    fault: str = ""
    fault_rate: float = 0.0
    retry_after_ms: int = 200
    lang: str = "en"
    framing: str = ""
    """How events are framed on the wire: "" (LF), "crlf", "comments" (SSE comments
    between events) or "bytes" (every event split into 3-byte writes, cutting UTF-8
    characters across network reads)."""
    rpm: int = 0
    """Requests per minute enforced with 429s; 0 = unlimited."""
    api_key: str = ""
    """If set, requests must send it as a bearer token."""
    seed: int = 0
    first: str = ""
    """Misbehave on a first attempt (no check feedback in the request): ``long``, ``lang`` or
    ``long+lang``; a request with feedback gets compliant copy."""
    stamp: bool = False
    usage_shape: str = "openai"
    """How usage is reported: "openai", "deepseek" or "openrouter"."""
    cache: bool = True
    """Report prompt-cache hits (whole 64-token blocks of a prompt's leading bytes already sent)."""
    reasoning: int = 0
    """Reasoning tokens per answer, counted in completion_tokens."""
    reasoner: bool = False
    """Refuse max_tokens and a temperature other than 1, as OpenAI's reasoning models do."""
    """Prefix each stream's first content token with ``[t=<ns>]``: ``time.monotonic_ns()`` when it
    is written (CLOCK_MONOTONIC is one clock for every process of a Linux machine), so a
    benchmark measures the time from the provider's send to a viewer's screen."""


def parse_model_directives(model: str, base: SimConfig) -> SimConfig:
    """Apply ``name@key=value,…`` directives of a model name onto ``base``."""
    _, _, directives = model.partition("@")
    changes: dict[str, Any] = {}
    for item in filter(None, directives.split(",")):
        key, _, value = item.partition("=")
        key = {"len": "length", "gap": "gap_ms", "ttft": "ttft_ms", "usage": "usage_shape"}.get(
            key.strip(), key.strip()
        )
        if key in {"ttft_ms", "gap_ms", "jitter", "fault_rate"}:
            changes[key] = float(value)
        elif key in {"length", "retry_after_ms", "reasoning"}:
            changes[key] = int(value)
        elif key in {"fault", "lang", "framing", "usage_shape", "first"}:
            changes[key] = value.strip()
        elif key in {"stamp", "cache", "reasoner"}:
            changes[key] = value.strip().lower() not in {"", "0", "false", "no"}
    return replace(base, **changes)


def count_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """A deterministic stand-in for a tokenizer: ~4 bytes a token, 4 tokens per message."""
    total = 0
    for message in messages:
        content = message.get("content") or ""
        total += 4 + (len(str(content).encode("utf-8")) + 3) // 4
    return total


CACHE_BLOCK_TOKENS = 64
CACHE_BLOCK_BYTES = CACHE_BLOCK_TOKENS * 4  # count_prompt_tokens: ~4 bytes a token
CACHE_MAX_PREFIXES = 200_000
"""Prefixes remembered per model; the cache is emptied when full (a bounded memory)."""


class PrefixCache:
    """Which leading 64-token blocks of prompts each model has seen, like a provider's prompt cache."""

    def __init__(self) -> None:
        self._seen: dict[str, set[bytes]] = {}

    def clear(self) -> None:
        self._seen.clear()

    def lookup_and_store(self, model: str, messages: list[dict[str, Any]]) -> tuple[int, int]:
        """(cached, written) tokens of this prompt: whole blocks already sent, and the blocks it adds."""
        data = b"".join(
            str(m.get("role", "")).encode() + b"\n" + str(m.get("content") or "").encode("utf-8") + b"\n"
            for m in messages
        )
        seen = self._seen.setdefault(model, set())
        if len(seen) > CACHE_MAX_PREFIXES:
            seen.clear()
        digest = hashlib.sha256()
        hits, blocks = 0, len(data) // CACHE_BLOCK_BYTES
        for i in range(blocks):
            digest.update(data[i * CACHE_BLOCK_BYTES : (i + 1) * CACHE_BLOCK_BYTES])
            key = digest.copy().digest()
            if key in seen and hits == i:
                hits += 1
            seen.add(key)
        return hits * CACHE_BLOCK_TOKENS, (blocks - hits) * CACHE_BLOCK_TOKENS


def make_usage(
    cfg: SimConfig, prompt_tokens: int, completion_tokens: int, *, cached: int, written: int, reasoning: int
) -> dict[str, Any]:
    """A usage object in the shape of ``cfg.usage_shape``."""
    cached = min(cached, prompt_tokens) if cfg.cache else 0
    written = min(written, prompt_tokens - cached) if cfg.cache else 0
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cfg.usage_shape == "deepseek":
        usage["prompt_cache_hit_tokens"] = cached
        usage["prompt_cache_miss_tokens"] = prompt_tokens - cached
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    elif cfg.usage_shape == "openrouter":
        usage["prompt_tokens_details"] = {"cached_tokens": cached, "cache_write_tokens": written}
    else:
        usage["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def _refusal(body: dict[str, Any]) -> str:
    """What a reasoning model refuses in ``body`` ("" if nothing)."""
    if "max_tokens" in body:
        return ("Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.")
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return (f"Unsupported value: 'temperature' does not support {temperature} with this model. "
                "Only the default (1) value is supported.")
    return ""


@dataclass
class _Stats:
    requests: int = 0
    streams: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


class Simulator:
    """The aiohttp application and its state; run it with :meth:`run` or :meth:`start_in_thread`."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.fault_queue: deque[str] = deque()
        self.completions: dict[str, dict[str, Any]] = {}
        self.stats = _Stats()
        self.prefix_cache = PrefixCache()
        self._window: deque[float] = deque()
        self._counter = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.grpc_port = 0
        self._grpc_server: Any = None

    # --- application -------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/_sim/faults", self.push_faults_view)
        app.router.add_get("/_sim/completions", self.completions_view)
        app.router.add_get("/_sim/stats", self.stats_view)
        app.router.add_post("/_sim/reset", self.reset_view)
        return app

    def push_faults(self, *faults: str) -> None:
        for fault in faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        self.fault_queue.extend(faults)

    def reset(self) -> None:
        self.fault_queue.clear()
        self.completions.clear()
        self.prefix_cache.clear()
        self.stats = _Stats()
        self._window.clear()

    async def push_faults_view(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            self.push_faults(*body.get("faults", []))
        except ValueError as exc:
            return web.json_response({"error": {"message": str(exc)}}, status=400)
        return web.json_response({"queued": list(self.fault_queue)})

    async def completions_view(self, request: web.Request) -> web.Response:
        return web.json_response(self.completions)

    async def stats_view(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.__dict__)

    async def reset_view(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def models(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        if self.fault_queue and self.fault_queue[0] == "429":
            self.fault_queue.popleft()
            return _error(429, "Rate limit reached for requests per minute.", "rate_limit_exceeded",
                          headers={"retry-after": "1"})
        names = ["sim-fast", "sim-balanced", "sim-slow"]
        return web.json_response(
            {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "simulator"} for n in names]}
        )

    # --- chat completions --------------------------------------------------------------
    def _check_auth(self, request: web.Request) -> web.Response | None:
        if not self.config.api_key:
            return None
        if request.headers.get("Authorization", "") != f"Bearer {self.config.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        return None

    def _rate_limited(self) -> bool:
        if not self.config.rpm:
            return False
        now = time.monotonic()
        while self._window and now - self._window[0] >= 60.0:
            self._window.popleft()
        if len(self._window) >= self.config.rpm:
            return True
        self._window.append(now)
        return False

    def _pick_fault(self, cfg: SimConfig, rng: random.Random) -> str:
        if self.fault_queue:
            return self.fault_queue.popleft()
        if cfg.fault and (cfg.fault_rate <= 0 or rng.random() < cfg.fault_rate):
            return cfg.fault
        return ""

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        if (denied := self._check_auth(request)) is not None:
            return denied
        try:
            body = await request.json()
            model = str(body["model"])
            messages = list(body["messages"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "request body must be JSON with 'model' and 'messages'", "invalid_request_error")
        if self._rate_limited():
            self.stats.rate_limited += 1
            return _error(429, "Rate limit reached for requests per minute.", "rate_limit_exceeded",
                          headers={"retry-after-ms": str(self.config.retry_after_ms)})
        cfg = parse_model_directives(model, self.config)
        self._counter += 1
        rng = random.Random(_seed(cfg.seed, model, messages, self._counter))
        fault = self._pick_fault(cfg, rng)
        if fault:
            self.stats.faults[fault] = self.stats.faults.get(fault, 0) + 1
        if fault == "429":
            return _error(429, "Rate limit reached for requests per minute.", "rate_limit_exceeded",
                          headers={"retry-after-ms": str(cfg.retry_after_ms), "retry-after": "1"})
        if fault in {"500", "503"}:
            return _error(int(fault), "The server had an error while processing your request.", "server_error")
        if fault == "401":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if fault == "400":
            return _error(400, "This model's maximum context length is 8192 tokens. Please reduce the length "
                          "of the messages.", "context_length_exceeded")
        if cfg.reasoner and (refusal := _refusal(body)):
            return _error(400, refusal, "unsupported_parameter")
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 256)
        reasoning = min(max(cfg.reasoning, 0), max_tokens - 1)
        visible_max = max_tokens - reasoning
        length = max(1, min(visible_max, round(cfg.length * _spread(rng, cfg.jitter))))
        tokens = _make_tokens(rng, cfg.lang, length)
        if cfg.first:
            tokens = _first_or_fixed(rng, cfg, messages, length, visible_max)
            length = len(tokens)
        finish_reason = "length" if length == visible_max and cfg.length * (1 + cfg.jitter) >= visible_max else "stop"
        response_id = f"chatcmpl-sim-{uuid.uuid4().hex[:20]}"
        cached, written = self.prefix_cache.lookup_and_store(model, messages)
        usage = make_usage(
            cfg, count_prompt_tokens(messages), len(tokens) + reasoning, cached=cached, written=written,
            reasoning=reasoning,
        )
        if not body.get("stream"):
            await asyncio.sleep((cfg.ttft_ms + cfg.gap_ms * len(tokens)) / 1000.0)
            text = "".join(tokens)
            self.completions[response_id] = {"model": model, "text": text, "usage": usage, "fault": fault}
            return web.json_response({
                "id": response_id, "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": finish_reason}],
                "usage": usage,
            })
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        response = await self._stream(request, cfg, rng, model, response_id, tokens, usage, include_usage,
                                      finish_reason, fault)
        if cfg.first and _feedback(messages) is not None and response_id in self.completions:
            self.completions[response_id]["messages"] = messages  # a rewrite request, as it was sent
        return response

    async def _stream(self, request: web.Request, cfg: SimConfig, rng: random.Random, model: str,
                      response_id: str, tokens: list[str], usage: dict[str, Any], include_usage: bool,
                      finish_reason: str, fault: str) -> web.StreamResponse:
        self.stats.streams += 1
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "x-request-id": response_id})
        sent: list[str] = []
        record = {"model": model, "text": "", "usage": usage, "fault": fault, "complete": False}
        self.completions[response_id] = record
        try:
            await resp.prepare(request)
            if fault == "empty":
                return resp
            send = _framed_writer(resp, cfg.framing)
            created = int(time.time())

            def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
                data: dict[str, Any] = {
                    "id": response_id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                if include_usage:
                    data["usage"] = None
                return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"

            await asyncio.sleep(cfg.ttft_ms * _spread(rng, cfg.jitter) / 1000.0)
            await send(chunk({"role": "assistant", "content": ""}))
            cut_at = len(tokens) // 2 if fault == "cut" else -1
            for i, token in enumerate(tokens):
                if i == cut_at:
                    record["text"] = "".join(sent)
                    request.transport.close() if request.transport else None
                    return resp
                if i == len(tokens) // 2 and fault == "malformed":
                    await send(b"data: {\"id\": \"broken\", \"choices\": [\n\n")
                if i == len(tokens) // 2 and fault == "error_event":
                    await send(b'data: {"error": {"message": "upstream model crashed", "type": "server_error"}}\n\n')
                if i > 0:
                    await asyncio.sleep(cfg.gap_ms * _spread(rng, cfg.jitter) / 1000.0)
                elif cfg.stamp:
                    token = f"[t={time.monotonic_ns()}]{token}"
                await send(chunk({"content": token}))
                sent.append(token)
                record["text"] = "".join(sent)
            await send(chunk({}, finish_reason))
            if include_usage and fault != "nousage":
                final = {"id": response_id, "object": "chat.completion.chunk", "created": created, "model": model,
                         "choices": [], "usage": usage}
                await send(b"data: " + json.dumps(final).encode() + b"\n\n")
            await send(b"data: [DONE]\n\n")
            record["complete"] = True
            await resp.write_eof()
            return resp
        except (ConnectionResetError, asyncio.CancelledError):
            record["text"] = "".join(sent)
            record["aborted"] = True
            raise
        finally:
            self.stats.in_flight -= 1

    # --- running -----------------------------------------------------------------------
    def run(self, host: str = "127.0.0.1", port: int = 8001, *, grpc_port: int | None = None) -> None:
        if grpc_port is None:
            web.run_app(self.app(), host=host, port=port, print=None, access_log=None)
            return
        try:
            asyncio.run(self._serve_forever(host, port, grpc_port))
        except KeyboardInterrupt:
            pass

    async def _serve_forever(self, host: str, port: int, grpc_port: int) -> None:
        from campaigns.simulator_grpc import start_grpc_server

        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        server, self.grpc_port = start_grpc_server(self, host, grpc_port)
        await server.start()
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop(0)
            await runner.cleanup()

    @property
    def grpc_target(self) -> str:
        """``host:port`` of the gRPC side (started with ``grpc_port``)."""
        return f"127.0.0.1:{self.grpc_port}"

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0, *, grpc_port: int | None = None) -> str:
        """Serve on a background thread with its own event loop; return the base URL.

        With ``grpc_port`` (0: any free port) the gRPC side is served too, on :attr:`grpc_port`.
        """
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._runner = web.AppRunner(self.app(), access_log=None)
                loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, host, port)
                loop.run_until_complete(site.start())
                self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
                if grpc_port is not None:
                    from campaigns.simulator_grpc import start_grpc_server

                    self._grpc_server, self.grpc_port = start_grpc_server(self, host, grpc_port)
                    loop.run_until_complete(self._grpc_server.start())
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            if self._grpc_server is not None:
                loop.run_until_complete(self._grpc_server.stop(0))
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="llm-simulator", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return f"http://{host}:{self.port}/v1"

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def _framed_writer(resp: web.StreamResponse, framing: str) -> Any:
    async def send(data: bytes) -> None:
        if framing == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif framing == "comments":
            data = b": keep-alive\n\n" + data
        if framing == "bytes":
            for i in range(0, len(data), 3):
                await resp.write(data[i : i + 3])
                await asyncio.sleep(0.001)
            return
        await resp.write(data)

    return send


def _error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> web.Response:
    err_type = "invalid_request_error" if status < 500 else "server_error"
    return web.json_response({"error": {"message": message, "type": err_type, "param": None, "code": code}},
                             status=status, headers=headers)


def _seed(seed: int, model: str, messages: list[dict[str, Any]], counter: int) -> int:
    digest = hashlib.sha256(json.dumps([seed, model, messages, counter], sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _spread(rng: random.Random, jitter: float) -> float:
    return max(0.0, 1.0 + rng.uniform(-jitter, jitter)) if jitter else 1.0


def _feedback(messages: list[dict[str, Any]]) -> str | None:
    last = messages[-1] if messages else {}
    content = str(last.get("content") or "")
    return content if last.get("role") == "user" and content.startswith(FEEDBACK_HEADER) else None


def _first_or_fixed(
    rng: random.Random, cfg: SimConfig, messages: list[dict[str, Any]], length: int, max_tokens: int
) -> list[str]:
    """``first=…``: off copy on a first attempt, copy that obeys the feedback on a rewrite."""
    feedback = _feedback(messages)
    if feedback is None:
        kinds = set(cfg.first.split("+"))
        lang = ("fr" if cfg.lang != "fr" else "en") if "lang" in kinds else cfg.lang
        return _make_tokens(rng, lang, min(max_tokens, length * 4 if "long" in kinds else length))
    limits = [int(n) for n in re.findall(r"the limit is (\d+)", feedback)]
    budget = min(limits) if limits else None
    tokens: list[str] = []
    for token in _make_tokens(rng, cfg.lang, min(max_tokens, length)):
        if budget is not None and len("".join(tokens + [token])) > budget:
            break
        tokens.append(token)
    return tokens or _make_tokens(rng, cfg.lang, 1)


def _make_tokens(rng: random.Random, lang: str, length: int) -> list[str]:
    vocab = VOCAB.get(lang, WORDS_EN)
    spaced = lang in ("en", "fr")
    sep = " " if spaced else ""
    tokens = [rng.choice(vocab) for _ in range(length)]
    if spaced and tokens:
        tokens[0] = tokens[0].capitalize()
        return [tokens[0]] + [sep + t for t in tokens[1:]]
    return tokens
