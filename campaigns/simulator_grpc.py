"""The simulator's gRPC side: Triton's ``inference.GRPCInferenceService`` for decoupled LLM models.

It serves ``ServerLive``, ``ServerReady``, ``ModelReady``, ``ModelMetadata`` and
``ModelStreamInfer`` with the tensors of Triton's vLLM backend or TensorRT-LLM ensemble
(the preset: ``preset=tensorrt_llm`` in the model name, or a name containing ``trtllm`` or
``ensemble``; vLLM otherwise), sharing the HTTP side's configuration, model-name
directives, fault queue, statistics and record of completions
(:class:`~campaigns.simulator.Simulator`). Faults as gRPC servers show them:

``429`` RESOURCE_EXHAUSTED (``retry-after-ms`` in the trailers), ``500`` INTERNAL, ``503``
UNAVAILABLE, ``401`` UNAUTHENTICATED, ``400`` INVALID_ARGUMENT (context too long), ``cut``
(UNAVAILABLE half-way), ``nousage`` (no ``num_*`` outputs), ``malformed`` (a BYTES tensor whose
length prefix overruns it), ``empty`` (the stream ends without a response), ``error_event``
(an in-band ``error_message`` half-way, status OK). A wrong key is UNAUTHENTICATED.
``drop=a+b`` in a model name leaves tensors out of its metadata.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import grpc
import orjson
from tritonclient.grpc import service_pb2, service_pb2_grpc

if TYPE_CHECKING:
    from campaigns.simulator import SimConfig, Simulator

__all__ = ["SimulatorInferenceService", "count_text_tokens", "preset_of", "start_grpc_server"]

_C = grpc.StatusCode
PRESET_INPUTS = {
    "vllm": [("text_input", "BYTES", [1]), ("stream", "BOOL", [1]), ("sampling_parameters", "BYTES", [1]),
             ("exclude_input_in_output", "BOOL", [1]), ("return_num_input_tokens", "BOOL", [1]),
             ("return_num_output_tokens", "BOOL", [1])],
    "tensorrt_llm": [("text_input", "BYTES", [-1, 1]), ("max_tokens", "INT32", [-1, 1]), ("stream", "BOOL", [-1, 1]),
                     ("temperature", "FP32", [-1, 1]), ("exclude_input_in_output", "BOOL", [-1, 1]),
                     ("return_num_input_tokens", "BOOL", [-1, 1]), ("return_num_output_tokens", "BOOL", [-1, 1])],
}
OUTPUTS = [("text_output", "BYTES", [-1]), ("num_input_tokens", "UINT32", [1]), ("num_output_tokens", "UINT32", [1])]
_DECODE = {"BOOL": "?", "INT32": "i", "UINT32": "I", "INT64": "q", "FP32": "f"}


def preset_of(model: str) -> str:
    base, _, directives = model.partition("@")
    for item in directives.split(","):
        key, _, value = item.partition("=")
        if key.strip() == "preset" and value.strip() in PRESET_INPUTS:
            return value.strip()
    return "tensorrt_llm" if "trtllm" in base or "ensemble" in base else "vllm"


def _dropped(model: str) -> set[str]:
    for item in model.partition("@")[2].split(","):
        key, _, value = item.partition("=")
        if key.strip() == "drop":
            return set(filter(None, value.split("+")))
    return set()


def count_text_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: ~4 bytes a token."""
    return max(1, (len(text.encode("utf-8")) + 3) // 4)


def _bytes(values: Sequence[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


def _decode_inputs(request: service_pb2.ModelInferRequest) -> dict[str, Any]:
    """Each input's first element, from ``raw_input_contents`` or the typed ``contents``."""
    values: dict[str, Any] = {}
    for index, tensor in enumerate(request.inputs):
        raw = request.raw_input_contents[index] if index < len(request.raw_input_contents) else None
        if tensor.datatype == "BYTES":
            if raw is not None:
                (length,) = struct.unpack_from("<I", raw, 0)
                values[tensor.name] = raw[4 : 4 + length]
            else:
                values[tensor.name] = tensor.contents.bytes_contents[0]
        elif raw is not None and tensor.datatype in _DECODE:
            values[tensor.name] = struct.unpack_from("<" + _DECODE[tensor.datatype], raw, 0)[0]
        else:
            c = tensor.contents
            values[tensor.name] = next(iter([*c.bool_contents, *c.int_contents, *c.fp32_contents, *c.uint_contents]), None)
    return values


_END = service_pb2.ModelStreamInferResponse()
"""Not sent: tells the stream's handler to end the stream with OK."""


class SimulatorInferenceService(service_pb2_grpc.GRPCInferenceServiceServicer):
    """The servicer; state (configuration, faults, records) is the HTTP simulator's."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def _check_auth(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        key = self.sim.config.api_key
        if not key:
            return
        metadata = {k: v for k, v in context.invocation_metadata() or ()}
        if metadata.get("authorization") != f"Bearer {key}":
            await context.abort(_C.UNAUTHENTICATED, "Incorrect API key provided.")

    async def ServerLive(self, request: Any, context: Any) -> service_pb2.ServerLiveResponse:  # noqa: N802
        await self._check_auth(context)
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> service_pb2.ServerReadyResponse:  # noqa: N802
        await self._check_auth(context)
        return service_pb2.ServerReadyResponse(ready=True)

    async def ModelReady(self, request: Any, context: Any) -> service_pb2.ModelReadyResponse:  # noqa: N802
        await self._check_auth(context)
        return service_pb2.ModelReadyResponse(ready=True)

    async def ModelMetadata(self, request: Any, context: Any) -> service_pb2.ModelMetadataResponse:  # noqa: N802
        await self._check_auth(context)
        drop = _dropped(request.name)
        meta = service_pb2.ModelMetadataResponse.TensorMetadata
        return service_pb2.ModelMetadataResponse(
            name=request.name, versions=["1"], platform="python",
            inputs=[meta(name=n, datatype=d, shape=s) for n, d, s in PRESET_INPUTS[preset_of(request.name)] if n not in drop],
            outputs=[meta(name=n, datatype=d, shape=s) for n, d, s in OUTPUTS if n not in drop],
        )

    async def ModelStreamInfer(  # noqa: N802
        self, request_iterator: AsyncIterator[service_pb2.ModelInferRequest], context: Any
    ) -> AsyncIterator[service_pb2.ModelStreamInferResponse]:
        await self._check_auth(context)
        async for request in request_iterator:
            async for response in self._generate(request, context):
                if response is _END:
                    return  # the "empty" fault: the server ends the stream without answering
                yield response

    async def _generate(
        self, request: service_pb2.ModelInferRequest, context: Any
    ) -> AsyncIterator[service_pb2.ModelStreamInferResponse]:
        sim = self.sim
        sim.stats.requests += 1
        model, preset = request.model_name, preset_of(request.model_name)
        inputs = _decode_inputs(request)
        missing = [n for n, _, _ in PRESET_INPUTS[preset] if n not in inputs]
        if missing:
            yield service_pb2.ModelStreamInferResponse(
                error_message=f"[request id: {request.id}] expected inputs {', '.join(missing)} for model '{model}'"
            )
            return
        if sim._rate_limited():
            sim.stats.rate_limited += 1
            await context.abort(_C.RESOURCE_EXHAUSTED, "Rate limit reached for requests per minute.",
                                (("retry-after-ms", str(sim.config.retry_after_ms)),))
        prompt = bytes(inputs["text_input"]).decode("utf-8", errors="replace")
        if preset == "vllm":
            max_tokens = int(orjson.loads(inputs["sampling_parameters"]).get("max_tokens") or 16)
        else:
            max_tokens = int(inputs["max_tokens"])
        from campaigns.simulator import _make_tokens, _seed, _spread, parse_model_directives

        cfg = parse_model_directives(model, sim.config)
        sim._counter += 1
        rng = random.Random(_seed(cfg.seed, model, [{"content": prompt}], sim._counter))
        fault = sim._pick_fault(cfg, rng)
        if fault:
            sim.stats.faults[fault] = sim.stats.faults.get(fault, 0) + 1
        await _status_fault(fault, cfg, context)
        length = max(1, min(max_tokens, round(cfg.length * _spread(rng, cfg.jitter))))
        tokens = _make_tokens(rng, cfg.lang, length)
        usage = {"prompt_tokens": count_text_tokens(prompt), "completion_tokens": len(tokens)}
        response_id = request.id or f"sim-{uuid.uuid4().hex[:20]}"
        empty_final = request.parameters.get("triton_enable_empty_final_response")
        stream = _ResponseStream(model, response_id, preset, usage if fault != "nousage" else None)
        async for response in self._stream(stream, cfg, rng, tokens, usage, fault,
                                           bool(empty_final and empty_final.bool_param), context):
            yield response

    async def _stream(
        self, stream: _ResponseStream, cfg: SimConfig, rng: random.Random, tokens: list[str], usage: dict[str, int],
        fault: str, empty_final: bool, context: Any,
    ) -> AsyncIterator[service_pb2.ModelStreamInferResponse]:
        from campaigns.simulator import _spread

        sim = self.sim
        sim.stats.streams += 1
        sim.stats.in_flight += 1
        sim.stats.max_in_flight = max(sim.stats.max_in_flight, sim.stats.in_flight)
        sent: list[str] = []
        record: dict[str, Any] = {"model": stream.model, "text": "", "usage": usage, "fault": fault,
                                  "complete": False, "protocol": "grpc", "preset": stream.preset}
        sim.completions[stream.response_id] = record
        try:
            if fault == "empty":
                yield _END
                return
            await asyncio.sleep(cfg.ttft_ms * _spread(rng, cfg.jitter) / 1000.0)
            half = len(tokens) // 2
            for i, token in enumerate(tokens):
                if i == half and fault == "cut":
                    await context.abort(_C.UNAVAILABLE, "Socket closed")
                if i == half and fault == "error_event":
                    yield service_pb2.ModelStreamInferResponse(error_message="upstream model crashed")
                    record["complete"] = True  # the request ended, in-band
                    return
                if i > 0:
                    await asyncio.sleep(cfg.gap_ms * _spread(rng, cfg.jitter) / 1000.0)
                elif cfg.stamp:
                    token = f"[t={time.monotonic_ns()}]{token}"
                final = i == len(tokens) - 1 and not empty_final
                sent.append(token)
                record["text"] = "".join(sent)
                record["complete"] = final  # recorded before the client can see the final response
                yield stream.response(token, final=final, malformed=i == half and fault == "malformed")
            if empty_final:
                record["complete"] = True
                yield stream.response(None, final=True)
        except (asyncio.CancelledError, GeneratorExit):  # the client cancelled: in a sleep, or at a yield
            record["aborted"] = True
            raise
        finally:
            record["text"] = "".join(sent)
            sim.stats.in_flight -= 1


async def _status_fault(fault: str, cfg: SimConfig, context: Any) -> None:
    if fault == "429":
        await context.abort(_C.RESOURCE_EXHAUSTED, "Rate limit reached for requests per minute.",
                            (("retry-after-ms", str(cfg.retry_after_ms)),))
    if fault == "500":
        await context.abort(_C.INTERNAL, "The server had an error while processing your request.")
    if fault == "503":
        await context.abort(_C.UNAVAILABLE, "The server is overloaded or not ready yet.")
    if fault == "401":
        await context.abort(_C.UNAUTHENTICATED, "Incorrect API key provided.")
    if fault == "400":
        await context.abort(_C.INVALID_ARGUMENT, "This model's maximum context length is 8192 tokens. "
                            "Please reduce the length of the prompt.")


class _ResponseStream:
    """Builds the responses of one request as the preset's backend shapes them."""

    def __init__(self, model: str, response_id: str, preset: str, usage: dict[str, int] | None) -> None:
        self.model, self.response_id, self.preset, self.usage = model, response_id, preset, usage

    def response(self, token: str | None, *, final: bool, malformed: bool = False) -> service_pb2.ModelStreamInferResponse:
        out = service_pb2.ModelInferResponse.InferOutputTensor
        infer = service_pb2.ModelInferResponse(model_name=self.model, model_version="1", id=self.response_id)
        if token is not None:
            shape = [1] if self.preset == "vllm" else [1, 1]
            raw = _bytes([token.encode("utf-8")])
            infer.outputs.append(out(name="text_output", datatype="BYTES", shape=shape))
            infer.raw_output_contents.append(raw[:-1] if malformed else raw)
            if self.usage is not None:
                infer.outputs.append(out(name="num_input_tokens", datatype="UINT32", shape=[1]))
                infer.raw_output_contents.append(struct.pack("<I", self.usage["prompt_tokens"]))
                infer.outputs.append(out(name="num_output_tokens", datatype="UINT32", shape=[1]))
                infer.raw_output_contents.append(struct.pack("<I", 1))
        infer.parameters["triton_final_response"].bool_param = final
        return service_pb2.ModelStreamInferResponse(infer_response=infer)


def start_grpc_server(sim: Simulator, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """A gRPC server for ``sim`` on ``host:port`` (0: any free port), not yet started; and its port."""
    server = grpc.aio.server(options=(("grpc.so_reuseport", 0),))
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(SimulatorInferenceService(sim), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    return server, bound
