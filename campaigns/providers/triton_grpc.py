"""Streaming generation from Triton / KServe v2 servers over gRPC (``ModelStreamInfer``).

NVIDIA Triton with its vLLM or TensorRT-LLM backend, and managed platforms fronting such
servers (Alibaba Cloud PAI-EAS: ``host:80``, ``authorization: Bearer <token>``), serve LLMs
as *decoupled* models: one request, many responses, only callable through the
bidirectional ``inference.GRPCInferenceService/ModelStreamInfer``. The messages stubs are
the ones shipped by ``tritonclient[grpc]``, driven with ``grpc.aio`` directly.

One attempt = one stream carrying one request: the pinned chat messages rendered into
``text_input`` with the model's prompt format, the preset's tensors, then responses until
the one flagged ``triton_final_response``. ``text_output`` of each response is a delta;
``num_output_tokens`` is per response (summed), ``num_input_tokens`` is the prompt's
(repeated, the largest is kept). A per-request failure arrives in-band as ``error_message``
with status OK.

gRPC status codes map onto the HTTP retry policy (:data:`STATUS_ERRORS`): UNAVAILABLE and
RESOURCE_EXHAUSTED are retried (not a message over the size limit), DEADLINE_EXCEEDED is an
attempt timeout, UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT, NOT_FOUND and
UNIMPLEMENTED fail at once with the server's message.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
from tritonclient.grpc import service_pb2, service_pb2_grpc

from campaigns.providers.base import TritonEndpoint
from campaigns.providers.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ProviderError,
    RateLimitError,
    ServerError,
    StreamError,
)
from campaigns.providers.openai_compatible import ChatRequest, Completion, auth_headers, parse_retry_after
from campaigns.providers.prompt_formats import render_prompt
from campaigns.providers.usage import Usage

__all__ = [
    "CHANNEL_OPTIONS",
    "PRESET_TENSORS",
    "STATUS_ERRORS",
    "TritonGrpc",
    "build_request",
    "grpc_error",
    "make_channel",
    "missing_tensors",
]

CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    # Keepalive set explicitly: a ping every 30 s while calls are open (a silent long prefill
    # stays alive through proxies), 10 s to answer, and no pings without calls and at most two
    # without data, so servers' ping policing (Triton's default: 5 min between pings, two
    # strikes) never closes the channel with GOAWAY "too_many_pings".
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 2),
    # A restarted server is found again within seconds, not after grpc's 120 s backoff cap
    # (calls fail fast while the channel is in TRANSIENT_FAILURE).
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 4_000),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
)

# (inputs, outputs) each preset needs the model to declare.
PRESET_TENSORS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vllm": (
        ("text_input", "stream", "sampling_parameters", "exclude_input_in_output",
         "return_num_input_tokens", "return_num_output_tokens"),
        ("text_output", "num_input_tokens", "num_output_tokens"),
    ),
    "tensorrt_llm": (
        ("text_input", "max_tokens", "stream", "temperature", "exclude_input_in_output",
         "return_num_input_tokens", "return_num_output_tokens"),
        ("text_output", "num_input_tokens", "num_output_tokens"),
    ),
}

FINAL = "triton_final_response"
EMPTY_FINAL = "triton_enable_empty_final_response"
_C = grpc.StatusCode
STATUS_ERRORS: dict[grpc.StatusCode, tuple[type[APIStatusError], int]] = {
    # code: (error class, the HTTP status it stands for in attempts and rate-limit counts)
    _C.UNAVAILABLE: (ServerError, 503),
    _C.RESOURCE_EXHAUSTED: (RateLimitError, 429),
    _C.INTERNAL: (ServerError, 500),
    _C.UNKNOWN: (ServerError, 500),
    _C.ABORTED: (ServerError, 409),
    _C.DATA_LOSS: (ServerError, 500),
    _C.UNAUTHENTICATED: (AuthenticationError, 401),
    _C.PERMISSION_DENIED: (AuthenticationError, 403),
    _C.INVALID_ARGUMENT: (BadRequestError, 400),
    _C.FAILED_PRECONDITION: (BadRequestError, 400),
    _C.OUT_OF_RANGE: (BadRequestError, 400),
    _C.NOT_FOUND: (BadRequestError, 404),
    _C.ALREADY_EXISTS: (BadRequestError, 409),
    _C.UNIMPLEMENTED: (BadRequestError, 501),
}
_CUT_CODES = frozenset({_C.UNAVAILABLE, _C.INTERNAL, _C.UNKNOWN, _C.CANCELLED, _C.DATA_LOSS})
_INT_FORMATS = {"INT32": "i", "UINT32": "I", "INT64": "q", "UINT64": "Q", "INT16": "h", "UINT16": "H"}


def make_channel(endpoint: TritonEndpoint) -> grpc.aio.Channel:
    """A channel to ``endpoint.target`` with :data:`CHANNEL_OPTIONS`; TLS with the system roots or the CA bundle."""
    if endpoint.tls:
        roots = endpoint.ca_bundle.encode() if endpoint.ca_bundle else None
        return grpc.aio.secure_channel(endpoint.target, grpc.ssl_channel_credentials(roots), CHANNEL_OPTIONS)
    return grpc.aio.insecure_channel(endpoint.target, CHANNEL_OPTIONS)


def call_metadata(api_key: str, provider: str) -> tuple[tuple[str, str], ...]:
    """``authorization: Bearer <key>`` as call metadata (gRPC keys are lower case), or nothing."""
    return tuple((k.lower(), v) for k, v in auth_headers(api_key, provider).items())


# --- request ---------------------------------------------------------------------------------


def _bytes_tensor(values: Sequence[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


def _input(name: str, datatype: str, shape: Sequence[int]) -> service_pb2.ModelInferRequest.InferInputTensor:
    return service_pb2.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=list(shape))


def build_request(req: ChatRequest, endpoint: TritonEndpoint, *, request_id: str = "") -> service_pb2.ModelInferRequest:
    """The ``ModelInferRequest`` of one attempt, tensors laid out as ``endpoint.preset`` names them."""
    prompt = render_prompt(req.messages, endpoint.prompt_format).encode("utf-8")
    true = b"\x01"
    tensors: list[tuple[str, str, bytes]] = [("text_input", "BYTES", _bytes_tensor([prompt])), ("stream", "BOOL", true)]
    if endpoint.preset == "vllm":
        sampling = orjson.dumps({"max_tokens": req.max_tokens, "temperature": req.temperature})
        tensors.append(("sampling_parameters", "BYTES", _bytes_tensor([sampling])))
        shape: tuple[int, ...] = (1,)
    elif endpoint.preset == "tensorrt_llm":
        tensors.append(("max_tokens", "INT32", struct.pack("<i", req.max_tokens)))
        tensors.append(("temperature", "FP32", struct.pack("<f", req.temperature)))
        shape = (1, 1)
    else:
        raise ValueError(f"unknown preset {endpoint.preset!r}")
    for flag in ("exclude_input_in_output", "return_num_input_tokens", "return_num_output_tokens"):
        tensors.append((flag, "BOOL", true))
    request = service_pb2.ModelInferRequest(
        model_name=req.model,
        id=request_id,
        inputs=[_input(name, datatype, shape) for name, datatype, _ in tensors],
        raw_input_contents=[raw for _, _, raw in tensors],
    )
    request.parameters[EMPTY_FINAL].bool_param = True
    return request


# --- responses -------------------------------------------------------------------------------


def _raw_of(response: service_pb2.ModelInferResponse, index: int) -> bytes | None:
    return response.raw_output_contents[index] if index < len(response.raw_output_contents) else None


def _strings(output: Any, raw: bytes | None) -> list[str]:
    if raw is None:
        return [b.decode("utf-8", errors="replace") for b in output.contents.bytes_contents]
    values, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise ValueError("a BYTES element's length prefix is cut")
        (length,) = struct.unpack_from("<I", raw, offset)
        if offset + 4 + length > len(raw):
            raise ValueError(f"a BYTES element of {length} bytes overruns its tensor")
        values.append(raw[offset + 4 : offset + 4 + length].decode("utf-8", errors="replace"))
        offset += 4 + length
    return values


def _ints(output: Any, raw: bytes | None) -> list[int]:
    fmt = _INT_FORMATS.get(output.datatype)
    if fmt is None:
        return []
    if raw is None:
        contents = output.contents
        return [int(v) for v in (*contents.int_contents, *contents.uint_contents,
                                  *contents.int64_contents, *contents.uint64_contents)]
    count = len(raw) // struct.calcsize(fmt)
    return list(struct.unpack_from(f"<{count}{fmt}", raw))


class _Stream:
    """What the responses of one request added up to."""

    def __init__(self, on_delta: Callable[[str], None]) -> None:
        self.on_delta = on_delta
        self.parts: list[str] = []
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.final = False
        self.response_id = ""

    def feed(self, message: service_pb2.ModelStreamInferResponse, provider: str) -> None:
        if message.error_message:
            raise StreamError(f"error in stream: {message.error_message[:2000]}", provider=provider)
        response = message.infer_response
        self.response_id = self.response_id or response.id
        for index, output in enumerate(response.outputs):
            raw = _raw_of(response, index)
            if output.name == "text_output":
                try:
                    piece = "".join(_strings(output, raw))
                except ValueError as exc:
                    raise StreamError(f"malformed text_output: {exc}", provider=provider) from exc
                if piece:
                    self.parts.append(piece)
                    self.on_delta(piece)
            elif output.name == "num_output_tokens":
                self.output_tokens = (self.output_tokens or 0) + sum(_ints(output, raw))
            elif output.name == "num_input_tokens":
                self.input_tokens = max([self.input_tokens or 0, *_ints(output, raw)])
        final = response.parameters.get(FINAL)
        if final is not None and final.bool_param:
            self.final = True

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def completion(self, max_tokens: int) -> Completion:
        usage = None
        if self.input_tokens is not None and self.output_tokens is not None:
            usage = Usage(prompt_tokens=self.input_tokens, completion_tokens=self.output_tokens)
        # The presets ask for no finish reason: reaching max_tokens is the one the counts tell.
        finish = "length" if usage is not None and usage.completion_tokens >= max_tokens else "stop"
        return Completion(text=self.text, usage=usage, finish_reason=finish, response_id=self.response_id)


def grpc_error(error: grpc.aio.AioRpcError, *, provider: str, deltas: int = 0, deadline: float | None = None) -> ProviderError:
    """The :class:`ProviderError` for a failed call, following the HTTP path's retry policy."""
    code, details = error.code(), (error.details() or "").strip()[:2000]
    message = details or code.name
    if code == _C.DEADLINE_EXCEEDED:
        limit = f" of {deadline:.1f}s" if deadline is not None else ""
        return APITimeoutError(f"attempt exceeded its deadline{limit} (gRPC DEADLINE_EXCEEDED)", provider=provider)
    if deltas and code in _CUT_CODES:
        return StreamError(f"stream interrupted after {deltas} deltas: gRPC {code.name}: {message}", provider=provider)
    if code == _C.RESOURCE_EXHAUSTED and "larger than" in details.lower():
        return BadRequestError(message, status_code=413, provider=provider, grpc_code=code.name)
    if code == _C.CANCELLED:
        return APIConnectionError(f"gRPC CANCELLED: {message}", provider=provider)
    cls, status = STATUS_ERRORS.get(code, (ServerError, 500))
    trailing = {k: v for k, v in (error.trailing_metadata() or ()) if isinstance(v, str)}
    retry_after = parse_retry_after(trailing) if cls is RateLimitError else None
    return cls(message, status_code=status, provider=provider, retry_after=retry_after, grpc_code=code.name)


# --- the provider ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _ChannelKey:
    loop: int
    provider: str
    target: str
    tls: bool
    ca_bundle: str


class TritonGrpc:
    """Triton's ``ModelStreamInfer``: one channel per provider per event loop, reused by every attempt."""

    def __init__(self) -> None:
        self._channels: dict[_ChannelKey, grpc.aio.Channel] = {}

    def channel(self, provider: str, endpoint: TritonEndpoint) -> grpc.aio.Channel:
        key = _ChannelKey(id(asyncio.get_running_loop()), provider, endpoint.target, endpoint.tls, endpoint.ca_bundle)
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = make_channel(endpoint)
        return channel

    async def stream_chat(self, request: ChatRequest, *, on_delta: Callable[[str], None]) -> Completion:
        """Send one attempt over a stream of its own; cancelling the task cancels the call."""
        endpoint = request.triton
        if endpoint is None:
            raise ValueError("a Triton gRPC request needs its endpoint (ChatRequest.triton)")
        metadata = call_metadata(request.api_key, request.provider)
        stub = service_pb2_grpc.GRPCInferenceServiceStub(self.channel(request.provider, endpoint))
        state = _Stream(on_delta)
        call = stub.ModelStreamInfer(metadata=metadata, timeout=request.deadline)
        try:
            try:
                await call.write(build_request(request, endpoint, request_id=uuid.uuid4().hex))
            except grpc.aio.AioRpcError as exc:
                raise await _refused(stub, exc, request, metadata) from exc
            await _read(call, state, request)
            await _close(call)
        except ProviderError as exc:
            exc.partial_text = state.text
            raise
        except grpc.aio.AioRpcError as exc:
            error = grpc_error(exc, provider=request.provider, deltas=len(state.parts), deadline=request.deadline)
            error.partial_text = state.text
            raise error from exc
        except TimeoutError as exc:
            raise APITimeoutError(
                f"no response for {request.read_timeout:.1f}s", provider=request.provider, partial_text=state.text
            ) from exc
        finally:
            if not call.done():
                call.cancel()  # cancelled task, read timeout or in-band error: the server stops generating
        return state.completion(request.max_tokens)

    async def aclose(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()


async def _read(call: Any, state: _Stream, request: ChatRequest) -> None:
    """Responses until the final one; each must come within the read timeout.

    The client does not half-close before the final response: a half-close racing a server's
    early error status makes grpc report a local INTERNAL error instead of that status.
    """
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(None) as read_timer:
        while not state.final:
            read_timer.reschedule(loop.time() + request.read_timeout)
            message = await call.read()  # an error status raises AioRpcError
            if message is grpc.aio.EOF:
                raise StreamError(
                    f"stream ended before the final response after {len(state.parts)} deltas", provider=request.provider
                )
            state.feed(message, request.provider)


async def _close(call: Any) -> None:
    """Half-close after the final response, so the server ends the stream with OK rather than a cancel."""
    try:
        await call.done_writing()
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        pass


async def _refused(
    stub: service_pb2_grpc.GRPCInferenceServiceStub,
    error: grpc.aio.AioRpcError,
    request: ChatRequest,
    metadata: tuple[tuple[str, str], ...],
) -> ProviderError:
    """The error of a stream the server closed before taking the request.

    A server that refuses a call from its headers (a gateway checking the key) may close it
    before the request is sent; grpc then reports its own INTERNAL error, not the server's
    status. ``ServerLive`` with the same metadata asks the server again, in one short call.
    """
    local = error.code() == _C.INTERNAL and "SendMessage" in (error.debug_error_string() or "")
    if not local:
        return grpc_error(error, provider=request.provider, deadline=request.deadline)
    try:
        await stub.ServerLive(service_pb2.ServerLiveRequest(), metadata=metadata, timeout=5.0)
    except grpc.aio.AioRpcError as answer:
        return grpc_error(answer, provider=request.provider, deadline=request.deadline)
    return ServerError("the server closed the stream before taking the request", status_code=503,
                       provider=request.provider, grpc_code=_C.UNAVAILABLE.name)


def missing_tensors(metadata: service_pb2.ModelMetadataResponse, preset: str) -> tuple[list[str], list[str]]:
    """The inputs and outputs ``preset`` sends or reads that the model does not declare."""
    inputs, outputs = PRESET_TENSORS[preset]
    have_in = {t.name for t in metadata.inputs}
    have_out = {t.name for t in metadata.outputs}
    return [n for n in inputs if n not in have_in], [n for n in outputs if n not in have_out]

