"""One writer task that batches records into a single flush call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["BatchWriter"]

T = TypeVar("T")
log = logging.getLogger("copygen.engine")


class BatchWriter(Generic[T]):
    """Collect items and hand them to ``flush`` in batches: at most every ``interval``
    seconds or as soon as ``max_batch`` are waiting. A failed flush is retried with the
    same items, so nothing put here is dropped while the writer runs."""

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[None]],
        *,
        interval: float = 0.05,
        max_batch: int = 500,
        retry_delay: float = 0.5,
    ) -> None:
        self._flush = flush
        self.interval = interval
        self.max_batch = max_batch
        self.retry_delay = retry_delay
        self._items: list[T] = []
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def put(self, item: T) -> None:
        self._items.append(item)
        self._event.set()

    @property
    def pending(self) -> int:
        return len(self._items)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="copygen-writer")

    async def close(self, timeout: float = 30.0) -> None:
        """Flush everything left, then stop; give up after ``timeout`` seconds of failures.

        Results not written by then belong to jobs whose leases will expire, so another
        engine runs them again: the cells are not lost, only those attempts' records.
        """
        self._closing = True
        self._event.set()
        if self._task is None:
            return
        _, pending = await asyncio.wait([self._task], timeout=timeout)
        if pending:
            self._task.cancel()
            log.error("gave up writing %d results at shutdown; their jobs will be re-run", len(self._items))

    async def _run(self) -> None:
        while True:
            await self._event.wait()
            if not self._closing and len(self._items) < self.max_batch:
                await asyncio.sleep(self.interval)
            self._event.clear()
            while self._items:
                batch, self._items = self._items[: self.max_batch], self._items[self.max_batch :]
                try:
                    await self._flush(batch)
                except Exception:
                    log.exception("writing %d records failed; retrying", len(batch))
                    self._items[:0] = batch
                    await asyncio.sleep(self.retry_delay)
            if self._closing:
                return
