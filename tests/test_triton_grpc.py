"""The Triton gRPC provider against the simulator's gRPC side over a real loopback socket,
and the simulator's conformance checked with tritonclient's own clients."""

from __future__ import annotations

import asyncio
import dataclasses
import queue
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton_sync
import tritonclient.grpc.aio as triton_aio
from tritonclient.utils import InferenceServerException

from campaigns.providers.base import TritonEndpoint
from campaigns.providers.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    RateLimitError,
    ServerError,
    StreamError,
)
from campaigns.providers.openai_compatible import ChatRequest
from campaigns.providers.prompt_formats import render_prompt
from campaigns.providers.triton_grpc import PRESET_TENSORS, TritonGrpc, grpc_error
from campaigns.simulator import Simulator
from campaigns.simulator_grpc import count_text_tokens

MESSAGES = [{"role": "system", "content": "You write copy."}, {"role": "user", "content": "A tagline for a lamp."}]
MODELS = {"vllm": "sim-llama@ttft=5,gap=1,len=12,jitter=0", "tensorrt_llm": "sim-trtllm@ttft=5,gap=1,len=12,jitter=0"}


def request(sim: Simulator, *, preset: str = "vllm", model: str = "", key: str = "", **kwargs: Any) -> ChatRequest:
    options: dict[str, Any] = {"max_tokens": 64, "temperature": 0.5, "deadline": 10.0, "read_timeout": 10.0, **kwargs}
    return ChatRequest(
        provider="Triton", base_url="", api_key=key, model=model or MODELS[preset], messages=MESSAGES,
        triton=TritonEndpoint(target=sim.grpc_target, preset=preset, prompt_format="chatml"), **options,
    )


def only_record(sim: Simulator) -> dict[str, Any]:
    assert len(sim.completions) == 1
    return next(iter(sim.completions.values()))


async def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "condition not reached in time"
        await asyncio.sleep(0.02)


# --- the provider ----------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["vllm", "tensorrt_llm"])
async def test_stream_text_and_reported_counts_are_what_the_server_sent(simulator: Simulator, preset: str) -> None:
    provider, deltas = TritonGrpc(), []
    try:
        completion = await provider.stream_chat(request(simulator, preset=preset), on_delta=deltas.append)
    finally:
        await provider.aclose()
    sent = only_record(simulator)
    assert sent["protocol"] == "grpc" and sent["preset"] == preset and sent["complete"]
    assert completion.text == sent["text"] == "".join(deltas) and len(deltas) == 12
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == sent["usage"]["prompt_tokens"] == count_text_tokens(
        render_prompt(MESSAGES, "chatml")
    )
    assert completion.usage.completion_tokens == sent["usage"]["completion_tokens"] == 12


async def test_one_channel_per_provider_per_loop_is_reused(simulator: Simulator) -> None:
    provider = TritonGrpc()
    try:
        req = request(simulator)
        await provider.stream_chat(req, on_delta=lambda _: None)
        channel = provider.channel(req.provider, req.triton)  # type: ignore[arg-type]
        await provider.stream_chat(req, on_delta=lambda _: None)
        assert provider.channel(req.provider, req.triton) is channel  # type: ignore[arg-type]
        other = dataclasses.replace(req, provider="Other")
        assert provider.channel(other.provider, other.triton) is not channel  # type: ignore[arg-type]
    finally:
        await provider.aclose()


async def test_bearer_metadata_is_sent_and_a_wrong_key_is_unauthenticated(simulator: Simulator) -> None:
    simulator.config = dataclasses.replace(simulator.config, api_key="sk-triton-5678")
    provider = TritonGrpc()
    try:
        completion = await provider.stream_chat(request(simulator, key="sk-triton-5678"), on_delta=lambda _: None)
        assert completion.text
        for _ in range(10):  # refused from the headers, racing the request's send: the status still arrives
            with pytest.raises(AuthenticationError) as wrong:
                await provider.stream_chat(request(simulator, key="sk-wrong"), on_delta=lambda _: None)
        with pytest.raises(AuthenticationError):
            await provider.stream_chat(request(simulator), on_delta=lambda _: None)  # no key: no metadata
    finally:
        await provider.aclose()
    assert not wrong.value.retryable and wrong.value.status_code == 401
    assert str(wrong.value) == "Triton: gRPC UNAUTHENTICATED: Incorrect API key provided."


@pytest.mark.parametrize(
    ("fault", "error", "retryable", "status"),
    [
        ("503", ServerError, True, 503),
        ("429", RateLimitError, True, 429),
        ("500", ServerError, True, 500),
        ("401", AuthenticationError, False, 401),
        ("400", BadRequestError, False, 400),
    ],
)
async def test_status_faults_map_onto_the_retry_policy(
    simulator: Simulator, fault: str, error: type[Exception], retryable: bool, status: int
) -> None:
    simulator.push_faults(fault)
    provider = TritonGrpc()
    try:
        with pytest.raises(error) as caught:
            await provider.stream_chat(request(simulator), on_delta=lambda _: None)
    finally:
        await provider.aclose()
    exc: Any = caught.value
    assert exc.retryable is retryable and exc.status_code == status and exc.partial_text == ""
    if fault == "429":
        assert exc.retry_after == pytest.approx(0.02)  # retry-after-ms in the trailers
    if fault == "400":
        assert "maximum context length" in str(exc)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("error_event", "error in stream: upstream model crashed"),
        ("cut", "stream interrupted after 6 deltas: gRPC UNAVAILABLE: Socket closed"),
        ("malformed", "malformed text_output"),
        ("empty", "stream ended before the final response after 0 deltas"),
    ],
)
async def test_in_stream_faults_fail_the_attempt_with_the_text_received(
    simulator: Simulator, fault: str, message: str
) -> None:
    simulator.push_faults(fault)
    provider, deltas = TritonGrpc(), []
    try:
        with pytest.raises(StreamError) as caught:
            await provider.stream_chat(request(simulator), on_delta=deltas.append)
    finally:
        await provider.aclose()
    assert message in str(caught.value) and not caught.value.retryable
    assert caught.value.partial_text == "".join(deltas)
    if fault in {"error_event", "cut"}:
        assert caught.value.partial_text == only_record(simulator)["text"] != ""


async def test_no_token_counts_means_no_usage(simulator: Simulator) -> None:
    simulator.push_faults("nousage")
    provider = TritonGrpc()
    try:
        completion = await provider.stream_chat(request(simulator), on_delta=lambda _: None)
    finally:
        await provider.aclose()
    assert completion.usage is None and completion.text == only_record(simulator)["text"]


async def test_the_attempt_deadline_is_a_timeout_and_the_server_stops(simulator: Simulator) -> None:
    provider = TritonGrpc()
    try:
        with pytest.raises(APITimeoutError, match="deadline of 0.3s"):
            await provider.stream_chat(request(simulator, model="slow@ttft=3000", deadline=0.3), on_delta=lambda _: None)
    finally:
        await provider.aclose()
    await wait_until(lambda: simulator.stats.in_flight == 0)
    assert only_record(simulator)["complete"] is False


async def test_a_silent_stream_hits_the_read_timeout(simulator: Simulator) -> None:
    provider = TritonGrpc()
    try:
        with pytest.raises(APITimeoutError, match="no response for 0.2s"):
            await provider.stream_chat(
                request(simulator, model="slow@ttft=3000", read_timeout=0.2, deadline=10.0), on_delta=lambda _: None
            )
    finally:
        await provider.aclose()
    await wait_until(lambda: simulator.stats.in_flight == 0)


async def test_cancelling_mid_stream_stops_the_server_side_stream(simulator: Simulator) -> None:
    provider, first = TritonGrpc(), asyncio.Event()
    task = asyncio.create_task(
        provider.stream_chat(request(simulator, model="drip@ttft=5,gap=50,len=100,jitter=0"), on_delta=lambda _: first.set())
    )
    try:
        await asyncio.wait_for(first.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_until(lambda: only_record(simulator).get("aborted") is True)
        assert simulator.stats.in_flight == 0
        sent = only_record(simulator)
        assert not sent["complete"] and 0 < len(sent["text"].split()) < 100
    finally:
        await provider.aclose()


async def test_an_unreachable_server_is_a_retryable_unavailable(simulator: Simulator) -> None:
    provider = TritonGrpc()
    req = dataclasses.replace(request(simulator), triton=TritonEndpoint(target="127.0.0.1:9"))
    try:
        with pytest.raises(ServerError) as caught:
            await provider.stream_chat(req, on_delta=lambda _: None)
    finally:
        await provider.aclose()
    assert caught.value.retryable and caught.value.grpc_code == "UNAVAILABLE"


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@pytest.mark.parametrize(
    ("code", "details", "error", "retryable"),
    [
        (grpc.StatusCode.UNAVAILABLE, "overloaded", ServerError, True),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "too many requests", RateLimitError, True),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (5 vs. 4)", BadRequestError, False),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", APITimeoutError, True),
        (grpc.StatusCode.UNAUTHENTICATED, "bad token", AuthenticationError, False),
        (grpc.StatusCode.PERMISSION_DENIED, "not yours", AuthenticationError, False),
        (grpc.StatusCode.INVALID_ARGUMENT, "unexpected inference input 'foo'", BadRequestError, False),
        (grpc.StatusCode.NOT_FOUND, "Request for unknown model: 'x' is not found", BadRequestError, False),
        (grpc.StatusCode.UNIMPLEMENTED, "ModelStreamInfer not supported", BadRequestError, False),
        (grpc.StatusCode.CANCELLED, "cancelled by the proxy", APIConnectionError, True),
    ],
)
def test_every_status_code_has_its_place_in_the_policy(
    code: grpc.StatusCode, details: str, error: type[Exception], retryable: bool
) -> None:
    exc = grpc_error(rpc_error(code, details), provider="Triton")
    assert type(exc) is error and exc.retryable is retryable
    if error not in (APITimeoutError, APIConnectionError):
        assert details in str(exc) and f"gRPC {code.name}" in str(exc)


# --- the simulator, as tritonclient sees it ------------------------------------------------


def triton_inputs(module: Any, preset: str, prompt: bytes, max_tokens: int) -> list[Any]:
    shape = [1] if preset == "vllm" else [1, 1]

    def tensor(name: str, datatype: str, value: Any) -> Any:
        t = module.InferInput(name, shape, datatype)
        t.set_data_from_numpy(np.array(value).reshape(shape))
        return t

    inputs = [tensor("text_input", "BYTES", np.array([prompt], dtype=np.object_)), tensor("stream", "BOOL", [True])]
    if preset == "vllm":
        sampling = f'{{"max_tokens": {max_tokens}, "temperature": 0.2}}'.encode()
        inputs.append(tensor("sampling_parameters", "BYTES", np.array([sampling], dtype=np.object_)))
    else:
        inputs.append(tensor("max_tokens", "INT32", np.array([max_tokens], dtype=np.int32)))
        inputs.append(tensor("temperature", "FP32", np.array([0.2], dtype=np.float32)))
    for flag in ("exclude_input_in_output", "return_num_input_tokens", "return_num_output_tokens"):
        inputs.append(tensor(flag, "BOOL", [True]))
    return inputs


@pytest.mark.parametrize("preset", ["vllm", "tensorrt_llm"])
def test_tritonclient_reads_health_metadata_and_a_decoupled_stream(simulator: Simulator, preset: str) -> None:
    simulator.config = dataclasses.replace(simulator.config, api_key="sk-triton-5678")
    headers = {"authorization": "Bearer sk-triton-5678"}
    model = MODELS[preset]
    client = triton_sync.InferenceServerClient(simulator.grpc_target)
    results: queue.Queue[tuple[Any, Any]] = queue.Queue()
    try:
        assert client.is_server_live(headers=headers) and client.is_server_ready(headers=headers)
        assert client.is_model_ready(model, headers=headers)
        metadata = client.get_model_metadata(model, headers=headers)
        assert tuple(t.name for t in metadata.inputs) == PRESET_TENSORS[preset][0]
        assert tuple(t.name for t in metadata.outputs) == PRESET_TENSORS[preset][1]
        client.start_stream(callback=lambda result, error: results.put((result, error)), headers=headers)
        client.async_stream_infer(model, triton_inputs(triton_sync, preset, b"hello there", 8), request_id="r-1",
                                  enable_empty_final_response=True)
        texts, counts, finals = [], [], []
        while True:
            result, error = results.get(timeout=10)
            assert error is None
            response = result.get_response()
            final = response.parameters["triton_final_response"].bool_param
            finals.append(final)
            if final:
                break
            texts.append(result.as_numpy("text_output").reshape(-1)[0].decode())
            counts.append(int(result.as_numpy("num_output_tokens").reshape(-1)[0]))
            assert int(result.as_numpy("num_input_tokens").reshape(-1)[0]) == count_text_tokens("hello there")
    finally:
        client.stop_stream()
        client.close()
    sent = simulator.completions["r-1"]
    assert "".join(texts) == sent["text"] and sum(counts) == sent["usage"]["completion_tokens"] == 8
    assert finals == [False] * 8 + [True]  # data responses, then the empty final one that was asked for


async def test_tritonclient_aio_sees_in_band_errors_and_refused_keys(simulator: Simulator) -> None:
    simulator.config = dataclasses.replace(simulator.config, api_key="sk-triton-5678")
    client = triton_aio.InferenceServerClient(simulator.grpc_target)
    simulator.push_faults("error_event")

    async def one_request() -> Any:
        yield {"model_name": MODELS["vllm"], "inputs": triton_inputs(triton_aio, "vllm", b"hi", 8), "request_id": "r-2"}

    try:
        outcomes = [
            (result, error)
            async for result, error in client.stream_infer(one_request(), headers={"authorization": "Bearer sk-triton-5678"})
        ]
        with pytest.raises(InferenceServerException, match="UNAUTHENTICATED"):
            await client.is_server_live(headers={"authorization": "Bearer nope"})
    finally:
        await client.close()
    errors = [error for _, error in outcomes if error is not None]
    assert len(errors) == 1 and "upstream model crashed" in str(errors[0])
    assert len(outcomes) == 5  # four tokens, then the error in the stream (status OK)


async def test_reaching_max_tokens_is_a_length_finish(simulator: Simulator) -> None:
    provider = TritonGrpc()
    try:
        completion = await provider.stream_chat(request(simulator, max_tokens=5), on_delta=lambda _: None)
    finally:
        await provider.aclose()
    assert completion.finish_reason == "length" and completion.usage is not None
    assert completion.usage.completion_tokens == 5


async def test_test_connection_is_bounded_against_a_server_that_never_answers() -> None:
    import socket

    from campaigns.providers.probe import probe_triton

    with socket.socket() as silent:  # accepts connections (the backlog) and never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        target = f"127.0.0.1:{silent.getsockname()[1]}"
        result = await probe_triton(TritonEndpoint(target=target), name="Mute", api_key="", models=[("m", "vllm")],
                                    timeout=0.5)
    assert result.status == "unreachable" and "Mute" in result.detail
