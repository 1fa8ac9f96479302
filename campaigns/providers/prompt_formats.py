"""Rendering chat messages into one raw prompt, for servers that take text rather than messages.

Triton's vLLM and TensorRT-LLM backends take ``text_input`` as it will be tokenized: the
chat template is the client's job. Each format follows its published template with the
generation prompt added (``add_generation_prompt=True``):

- ``chatml``: ``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per message, then
  ``<|im_start|>assistant\\n`` (Qwen, OpenHermes, Yi …).
- ``llama3``: ``<|begin_of_text|>``, then per message
  ``<|start_header_id|>{role}<|end_header_id|>\\n\\n{content | trim}<|eot_id|>``, then
  ``<|start_header_id|>assistant<|end_header_id|>\\n\\n`` (Meta-Llama-3-*-Instruct).
- ``plain``: the messages' contents joined by a blank line, no markers (base models, or a
  server that applies its own template).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

__all__ = ["PROMPT_FORMATS", "render_prompt"]

Messages = Sequence[Mapping[str, str]]


def _chatml(messages: Messages) -> str:
    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"


def _llama3(messages: Messages) -> str:
    # Jinja's ``trim`` is Python's str.strip() (whitespace on both ends).
    parts = [f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content'].strip()}<|eot_id|>" for m in messages]
    return "<|begin_of_text|>" + "".join(parts) + "<|start_header_id|>assistant<|end_header_id|>\n\n"


def _plain(messages: Messages) -> str:
    return "\n\n".join(m["content"] for m in messages)


PROMPT_FORMATS: dict[str, Callable[[Messages], str]] = {"chatml": _chatml, "llama3": _llama3, "plain": _plain}
"""Every prompt format by its name, as models store it."""


def render_prompt(messages: Messages, prompt_format: str) -> str:
    """The raw prompt for ``messages`` in ``prompt_format``; ``ValueError`` for an unknown format."""
    try:
        render = PROMPT_FORMATS[prompt_format]
    except KeyError:
        raise ValueError(f"unknown prompt format {prompt_format!r}; known: {', '.join(PROMPT_FORMATS)}") from None
    return render(messages)
