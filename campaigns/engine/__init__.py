"""The generation engine: pure asyncio, no Django imports."""

from campaigns.engine.scheduler import Engine, JobStore, Publish
from campaigns.engine.types import Job, JobResult, ModelSpec, ProviderSpec

__all__ = ["Engine", "Job", "JobResult", "JobStore", "ModelSpec", "ProviderSpec", "Publish"]
