"""Shared fixtures: the simulator over a real socket, users, a catalog, API tokens, the engine."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from campaigns.simulator import SimConfig, Simulator
from tests.factories import LLMModelFactory, ProductFactory, PromptTemplateFactory, ProviderFactory, UserFactory

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[Simulator]:
    sim = Simulator(SimConfig(ttft_ms=5, gap_ms=1, length=12, jitter=0.0, retry_after_ms=20))
    sim.base_url = sim.start_in_thread()  # type: ignore[attr-defined]
    yield sim
    sim.stop()


@pytest.fixture
def simulator(simulator_server: Simulator) -> Simulator:
    """The session's simulator, reset: no queued faults, no recorded completions."""
    simulator_server.reset()
    simulator_server.config = SimConfig(ttft_ms=5, gap_ms=1, length=12, jitter=0.0, retry_after_ms=20)
    return simulator_server


@pytest.fixture
def user(db: Any) -> Any:
    return UserFactory(username="alice")


@pytest.fixture
def other_user(db: Any) -> Any:
    return UserFactory(username="bob")


@pytest.fixture
def staff_user(db: Any) -> Any:
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def catalog(db: Any, simulator: Simulator) -> dict[str, Any]:
    """A provider on the simulator with two models, three products and two templates."""
    provider = ProviderFactory(name="Simulator", base_url=simulator.base_url)  # type: ignore[attr-defined]
    return {
        "provider": provider,
        "models": [
            LLMModelFactory(provider=provider, name="sim-a@ttft=5,gap=1,len=12,jitter=0"),
            LLMModelFactory(
                provider=provider,
                name="sim-b@ttft=5,gap=1,len=20,jitter=0",
                input_usd_per_mtok="0.500000",
                output_usd_per_mtok="1.500000",
            ),
        ],
        "products": [ProductFactory() for _ in range(3)],
        "templates": [PromptTemplateFactory() for _ in range(2)],
    }


@pytest.fixture
def make_token(db: Any) -> Callable[..., str]:
    from campaigns.services.tokens import token_create

    def make(user: Any, *scopes: str) -> str:
        _, raw = token_create(user=user, scopes=list(scopes) or ["read", "write", "launch"])
        return raw

    return make


@pytest.fixture
async def inline_engine(transactional_db: Any) -> AsyncIterator[Any]:
    """The inline engine running on this test's event loop, stopped afterwards."""
    from campaigns.services import runner

    engine = runner.start_inline()
    engine.poll_interval = 0.2
    yield engine
    await runner.stop_inline()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """PBKDF2 is slow on purpose; the suite hashes many passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
