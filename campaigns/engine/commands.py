"""Commands an engine accepts, defined once: :class:`Command`, handled by ``Engine.handle()``.

- ``wake`` -- look for runnable jobs now (a campaign was launched or resumed);
- ``cancel`` -- stop the campaign's jobs running in this engine;
- ``resync`` -- send the text so far of the campaign's running jobs to ``reply_to``, the
  one viewer channel that joined mid-stream (no other viewer gets it).

Commands cross processes over the channel layer as ``{"type": "engine.<kind>",
"campaign_id": …, "reply_to": …}``; :meth:`Command.from_message` rejects anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Command", "CommandKind", "UnknownCommand"]

PREFIX = "engine."


class CommandKind(StrEnum):
    WAKE = "wake"
    CANCEL = "cancel"
    RESYNC = "resync"


class UnknownCommand(ValueError):
    """A message that is not a well-formed engine command."""


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    campaign_id: int
    reply_to: str = ""
    """The channel that asked for a ``resync`` (required for it, ignored otherwise)."""

    def __post_init__(self) -> None:
        if self.kind is CommandKind.RESYNC and not self.reply_to:
            raise UnknownCommand("a resync needs the channel to answer (reply_to)")

    def to_message(self) -> dict[str, Any]:
        return {"type": PREFIX + self.kind.value, "campaign_id": self.campaign_id, "reply_to": self.reply_to}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Command:
        kind = str(message.get("type", ""))
        try:
            command_kind = CommandKind(kind.removeprefix(PREFIX)) if kind.startswith(PREFIX) else None
        except ValueError:
            command_kind = None
        campaign_id = message.get("campaign_id")
        if command_kind is None or not isinstance(campaign_id, int) or isinstance(campaign_id, bool):
            raise UnknownCommand(f"not an engine command: {kind!r}")
        return cls(command_kind, campaign_id, str(message.get("reply_to") or ""))
