"""The generation engine: pure asyncio, no Django imports."""

from campaigns.engine.config import EngineConfig
from campaigns.engine.scheduler import Engine, JobStore, Publish
from campaigns.engine.types import Job, JobResult, ModelSpec, ProviderSpec

__all__ = ["Engine", "EngineConfig", "Job", "JobResult", "JobStore", "ModelSpec", "ProviderSpec", "Publish"]
