"""Pure engine parts: costs, coalescing, retry policy, and the no-Django rule."""

from __future__ import annotations

import ast
import pathlib
import random
from decimal import Decimal

import pytest

from campaigns.engine.coalesce import DeltaCoalescer
from campaigns.engine.costs import cost_usd, worst_case_usd
from campaigns.engine.retry import MAX_RETRY_DELAY, RetryPolicy
from campaigns.providers.errors import AuthenticationError, RateLimitError, ServerError, StreamError

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("package", ["engine", "providers"])
def test_engine_and_providers_never_import_django(package: str) -> None:
    for path in (ROOT / "campaigns" / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("django", "channels", "campaigns.services", "campaigns.models")), (
                    f"{path.name} imports {name}"
                )


def test_cost_is_exact_decimal() -> None:
    assert cost_usd(1000, 500, input_usd_per_mtok=Decimal("0.15"), output_usd_per_mtok=Decimal("0.60")) == Decimal(
        "0.00045"
    )
    assert isinstance(cost_usd(1, 1, input_usd_per_mtok=Decimal(1), output_usd_per_mtok=Decimal(1)), Decimal)


def test_worst_case_counts_bytes_and_message_overhead() -> None:
    messages = [{"role": "user", "content": "héllo"}]  # 6 bytes
    worst = worst_case_usd(messages, 10, input_usd_per_mtok=Decimal(1_000_000), output_usd_per_mtok=Decimal(0))
    assert worst == Decimal(6 + 16)


def test_coalescer_sends_the_first_delta_at_once_then_batches() -> None:
    c = DeltaCoalescer(interval=0.05)
    first = c.add(1, 9, "a")
    assert first is not None and first["text"] == "a" and first["offset"] == 0
    assert c.add(1, 9, "b") is None and c.add(1, 9, "c") is None
    assert c.due(now=first_sent_at(c, 1) + 0.01) == [], "nothing is due within the interval"
    events = c.due(now=1e12)
    assert [e["text"] for e in events] == ["bc"] and events[0]["offset"] == 1
    assert c.add(1, 9, "d") is None
    last = c.finish(1)
    assert last is not None and last["text"] == "d" and last["offset"] == 3
    assert c.finish(1) is None


def first_sent_at(c: DeltaCoalescer, job_id: int) -> float:
    return c._pending[job_id].last_sent


def test_retry_policy() -> None:
    policy = RetryPolicy()
    assert policy.should_retry(RateLimitError("x", status_code=429), retries_done=0)
    assert policy.should_retry(ServerError("x", status_code=503), retries_done=1)
    assert not policy.should_retry(ServerError("x", status_code=503), retries_done=2)
    assert not policy.should_retry(AuthenticationError("x", status_code=401), retries_done=0)
    assert not policy.should_retry(StreamError("cut", partial_text="abc"), retries_done=0)
    assert policy.delay(RateLimitError("x", status_code=429, retry_after=3.0), retries_done=0) == 3.0
    rng = random.Random(1)
    delays = [policy.delay(ServerError("x", status_code=500), retries_done=n, rng=rng) for n in range(8)]
    assert all(0 < d <= MAX_RETRY_DELAY for d in delays)
    assert delays[0] <= 0.5 and delays[-1] >= MAX_RETRY_DELAY * 0.75


async def test_stop_hands_back_a_job_whose_task_does_not_let_go() -> None:
    """A stream stuck on its way out must not hold up a shutdown: the job is handed back."""
    import asyncio
    from decimal import Decimal

    import httpx

    from campaigns.engine import Engine, EngineConfig
    from campaigns.engine.types import Job, JobResult, ModelSpec, ProviderSpec

    written: list[JobResult] = []

    class Store:
        async def claim(self, *, owner: str, limit: int) -> list[Job]:
            return []

        async def renew(self, **kwargs: object) -> None: ...

        async def reserve(self, **kwargs: object) -> bool:
            return False

        async def provider_state(self, **kwargs: object) -> None: ...

        async def finish(self, *, owner: str, results: list[JobResult]) -> list[dict[str, object]]:
            written.extend(results)
            return []

    async def publish(campaign_id: int, event: object) -> None: ...

    engine = Engine(store=Store(), publish=publish, client=httpx.AsyncClient(), owner="w1",
                    config=EngineConfig(stop_timeout=0.2))
    provider = ProviderSpec(id=1, name="p", base_url="http://127.0.0.1:9/v1", api_key="")
    job = Job(id=7, campaign_id=3, model=ModelSpec(id=1, name="m", provider=provider, input_usd_per_mtok=Decimal(1),
              output_usd_per_mtok=Decimal(1)), messages=[{"role": "user", "content": "hi"}], max_tokens=10,
              temperature=0.5)

    let_go = asyncio.Event()

    async def stubborn() -> None:
        while not let_go.is_set():
            try:
                await let_go.wait()
            except asyncio.CancelledError:
                continue  # ignores cancellation, as a stuck connection close would

    engine.writer.start()
    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0.01)  # let it reach its first await
    engine._tasks[job.id], engine._jobs[job.id], engine._texts[job.id] = task, job, ["partial"]
    await engine.stop()
    await engine.writer.close()
    let_go.set()
    await task
    await engine.client.aclose()
    assert [r.status for r in written] == ["released"]
    assert written[0].attempt_log[0].error.startswith("interrupted") and written[0].cost_source == "estimated"


async def test_publisher_sends_at_once_when_idle_and_one_batch_per_campaign_when_busy() -> None:
    """What piles up while a send is under way goes out as one ``campaign.batch`` per campaign,
    in order, so viewers get a bounded number of messages whatever the cells in flight."""
    import asyncio

    import httpx

    from campaigns.engine import Engine, EngineConfig

    sent: list[tuple[int, dict[str, object]]] = []
    first_send_may_end = asyncio.Event()

    async def publish(campaign_id: int, message: dict[str, object]) -> None:
        sent.append((campaign_id, message))
        if len(sent) == 1:
            await first_send_may_end.wait()  # a slow send: events pile up meanwhile

    async with httpx.AsyncClient() as client:
        engine = Engine(store=None, publish=publish, client=client, owner="w1",  # type: ignore[arg-type]
                        config=EngineConfig(publish_gap=0.0))
        publisher = asyncio.create_task(engine._publisher())
        engine._outbox.put_nowait((1, {"type": "generation.started", "campaign_id": 1, "id": 1000}))
        for _ in range(100):
            if sent:
                break
            await asyncio.sleep(0.001)
        assert [m["type"] for _, m in sent] == ["generation.started"], "an idle publisher sends at once, alone"
        for i in range(300):
            campaign = 1 + i % 2
            engine._outbox.put_nowait((campaign, {"type": "generation.delta", "campaign_id": campaign, "id": i}))
        first_send_may_end.set()
        for _ in range(500):
            if len(sent) == 3:
                break
            await asyncio.sleep(0.001)
        publisher.cancel()
    batches = sent[1:]
    assert [(c, m["type"]) for c, m in batches] == [(1, "campaign.batch"), (2, "campaign.batch")]
    assert [e["id"] for e in batches[0][1]["events"]] == list(range(0, 300, 2))  # type: ignore[attr-defined]
    assert [e["id"] for e in batches[1][1]["events"]] == list(range(1, 300, 2))  # type: ignore[attr-defined]
    assert all(m["campaign_id"] == c for c, m in batches)


def test_engine_commands_are_parsed_or_refused() -> None:
    from campaigns.engine.commands import Command, CommandKind, UnknownCommand

    cancel = Command(CommandKind.CANCEL, 4)
    assert Command.from_message(cancel.to_message()) == cancel
    assert Command.from_message({"type": "engine.resync", "campaign_id": 4, "reply_to": "c!1"}).reply_to == "c!1"
    for bad in ({"type": "engine.wakey", "campaign_id": 4}, {"type": "engine.wake"}, {"type": "wake", "campaign_id": 4},
                {"type": "engine.wake", "campaign_id": "4"}, {"type": "engine.resync", "campaign_id": 4}):
        with pytest.raises(UnknownCommand):
            Command.from_message(bad)


def test_engine_config_is_an_immutable_value() -> None:
    import dataclasses

    from campaigns.engine import EngineConfig

    config = EngineConfig(poll_interval=0.2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.poll_interval = 1.0  # type: ignore[misc]
    assert dataclasses.replace(config, max_in_flight=3).max_in_flight == 3 and config.max_in_flight == 500
