"""The scheduler through its public interface: a store and a publish function, the simulator over a socket."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx

from campaigns.engine import Engine, EngineConfig
from campaigns.engine.retry import RetryPolicy
from campaigns.engine.types import Job, JobResult, ModelSpec, ProviderSpec
from campaigns.services.publish import flatten


def sim_job(simulator: Any, job_id: int = 7, campaign_id: int = 3, *, name: str = "sim-a@ttft=5,gap=1,len=12,jitter=0",
            **model: Any) -> Job:
    provider = ProviderSpec(id=1, name="sim", base_url=simulator.base_url, api_key="", **model)
    spec = ModelSpec(id=11, name=name, provider=provider,
                     input_usd_per_mtok=Decimal(1), output_usd_per_mtok=Decimal(1))
    return Job(id=job_id, campaign_id=campaign_id, model=spec, messages=[{"role": "user", "content": "hi"}],
               max_tokens=32, temperature=0.5)


class Store:
    """Hands out ``jobs`` once; ``finish`` records what it was given and returns ``answer(results)``."""

    def __init__(self, jobs: list[Job], answer: Any = None) -> None:
        self.jobs = jobs
        self.answer = answer or (lambda results: [])
        self.results: list[JobResult] = []
        self.progress: list[int] = []
        self.finished = asyncio.Event()

    async def claim(self, *, owner: str, limit: int) -> list[Job]:
        jobs, self.jobs = self.jobs, []
        return jobs

    async def renew(self, *, owner: str, progress: Mapping[int, int]) -> None:
        self.progress.extend(progress.values())

    async def reserve(self, **kwargs: object) -> bool:
        return False

    async def provider_state(self, **kwargs: object) -> None: ...

    async def finish(self, *, owner: str, results: Sequence[JobResult]) -> list[Mapping[str, Any]]:
        self.results.extend(results)
        self.finished.set()
        return list(self.answer(results))


async def run_until_finished(store: Store, **engine_kwargs: Any) -> list[dict[str, Any]]:
    """Run an engine on ``store`` until its first write, stop it, return every event it published."""
    published: list[dict[str, Any]] = []

    async def publish(campaign_id: int, message: Mapping[str, Any]) -> None:
        published.extend(flatten(message))

    async with httpx.AsyncClient() as client:
        engine = Engine(store=store, publish=publish, client=client, owner="w1", config=EngineConfig(**engine_kwargs))
        task = asyncio.create_task(engine.run())
        await asyncio.wait_for(store.finished.wait(), 20)
        await engine.stop()
        await asyncio.wait_for(task, 20)
    return published


async def test_a_result_the_store_refused_is_not_announced(simulator: Any) -> None:
    """A late writer whose lease was taken over: the store writes nothing, so viewers hear nothing
    final (the engine now running the cell will announce its own result)."""
    store = Store([sim_job(simulator)])
    published = await run_until_finished(store)
    assert [r.status for r in store.results] == ["succeeded"], "the job ran to its end"
    types = [e["type"] for e in published]
    assert "generation.delta" in types
    assert "generation.finished" not in types


async def test_only_the_events_the_store_returns_are_announced_after_a_write(simulator: Any) -> None:
    stored = {"type": "generation.finished", "campaign_id": 3, "id": 7, "status": "succeeded", "text": "as stored"}
    store = Store([sim_job(simulator)], answer=lambda results: [stored])
    published = await run_until_finished(store)
    assert [e for e in published if e["type"] == "generation.finished"] == [stored]




async def test_the_engine_retry_policy_is_the_one_used(simulator: Any) -> None:
    simulator.push_faults("500", "500")
    store = Store([sim_job(simulator)])
    await run_until_finished(store, retry=RetryPolicy(max_retries=1, initial_delay=0.01))
    [result] = store.results
    assert (result.status, result.attempts) == ("failed", 2), "one retry, as the engine's policy says"


async def test_a_provider_that_sets_its_retry_count_overrides_the_engine_policy(simulator: Any) -> None:
    simulator.push_faults("500", "500")
    store = Store([sim_job(simulator, max_retries=2)])
    await run_until_finished(store, retry=RetryPolicy(max_retries=0, initial_delay=0.01))
    [result] = store.results
    assert (result.status, result.attempts) == ("succeeded", 3)


async def test_lease_renewals_report_utf8_bytes_so_an_interrupted_cjk_stream_is_not_under_billed(
    simulator: Any,
) -> None:
    """A lease taken over is billed from the last progress its engine reported: that must be
    bytes (a Japanese character is 3 bytes and about one token), not characters."""
    store = Store([sim_job(simulator, name="sim-ja@ttft=5,gap=5,len=120,jitter=0,lang=ja")])
    await run_until_finished(store, lease_renew_interval=0.02)
    [result] = store.results
    text = result.text
    assert result.status == "succeeded" and len(text.encode("utf-8")) == 3 * len(text), "all 3-byte characters"
    prefixes = {len(text[:k].encode("utf-8")) for k in range(len(text) + 1)}
    assert store.progress and set(store.progress) <= prefixes
    assert max(store.progress) > len(text), "past a third of the stream, bytes exceed the whole text's characters"


def test_one_estimate_for_text_and_for_its_byte_count() -> None:
    from campaigns.engine.costs import estimate_tokens

    for text in ("", "a", "Bright ideas", "毎日の暮らしに寄り添う上質なデザイン", "精心设计 mixed"):
        assert estimate_tokens(text) == estimate_tokens(utf8_bytes=len(text.encode("utf-8")))
    assert estimate_tokens("毎日の暮らし") == 5, "18 bytes: ~4.5 tokens, never 6 characters / 4"
