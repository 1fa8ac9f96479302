"""Shared fixtures: the simulator over a real socket, users, a catalog, API tokens, the engine."""

from __future__ import annotations

import os

# copygen.asgi checks stored secrets against the database at import; test modules import
# it before any database exists (tests/test_security.py covers the check itself).
os.environ.setdefault("COPYGEN_SKIP_START_CHECKS", "1")

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
async def inline_engine(transactional_db: Any, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """The inline engine running on this test's event loop, stopped afterwards; a test marked
    ``@pytest.mark.engine_config(field=value, ...)`` runs it with those EngineConfig fields."""
    from campaigns.services import runner

    marker = request.node.get_closest_marker("engine_config")
    engine = runner.start_inline(poll_interval=0.2, **(marker.kwargs if marker else {}))
    yield engine
    await runner.stop_inline()


# --- browser tests (module-scoped: one server and one browser per test module) ------------
@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory, simulator_server: Simulator) -> Iterator[Any]:
    """A daphne server (engine inline) on the demo data, its provider on the simulator."""
    from tests.browser_support import demo_server_start

    yield from demo_server_start(tmp_path_factory, simulator_server.base_url)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from tests.browser_support import chromium_launch

    with sync_playwright() as p:
        b = chromium_launch(p)
        yield b
        b.close()


@pytest.fixture(autouse=True)
def no_engine_from_the_asgi_app(settings: Any) -> None:
    """The ASGI app starts an inline engine with its first connection. In a test that engine
    would outlive the test's event loop, its database thread still claiming while the next
    test's flush truncates the tables (a deadlock on PostgreSQL). Tests that need an engine
    ask for ``inline_engine``; the browser tests' daphne runs with the real default."""
    settings.COPYGEN_ENGINE = "worker"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """PBKDF2 is slow on purpose; the suite hashes many passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """Before the test database is dropped, end PostgreSQL sessions that threads left open
    (the async ORM's worker threads keep their own connections), so the drop succeeds."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
