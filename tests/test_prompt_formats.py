"""Prompt formats, byte for byte against the published chat templates they follow."""

from __future__ import annotations

import pytest

from campaigns.providers.prompt_formats import PROMPT_FORMATS, render_prompt

MESSAGES = [
    {"role": "system", "content": "You are a senior copywriter. Answer in en."},
    {"role": "user", "content": "  Write a tagline for Trail Runner 2.\nDetails: grippy sole  \n"},
]


def test_chatml_matches_the_published_template() -> None:
    # {% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']
    #   + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}
    expected = (
        "<|im_start|>system\nYou are a senior copywriter. Answer in en.<|im_end|>\n"
        "<|im_start|>user\n  Write a tagline for Trail Runner 2.\nDetails: grippy sole  \n<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert render_prompt(MESSAGES, "chatml").encode() == expected.encode()


def test_llama3_matches_the_published_template() -> None:
    # Meta-Llama-3-8B-Instruct: {% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'
    #   + message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}
    #   {% endif %}{{ content }} ... {{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
    expected = (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "You are a senior copywriter. Answer in en.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n"
        "Write a tagline for Trail Runner 2.\nDetails: grippy sole<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert render_prompt(MESSAGES, "llama3").encode() == expected.encode()


def test_plain_is_the_contents_joined_by_a_blank_line() -> None:
    expected = "You are a senior copywriter. Answer in en.\n\n  Write a tagline for Trail Runner 2.\nDetails: grippy sole  \n"
    assert render_prompt(MESSAGES, "plain") == expected


def test_non_ascii_is_kept_as_utf8() -> None:
    prompt = render_prompt([{"role": "user", "content": "急須の説明文 ☕"}], "chatml")
    assert prompt.encode("utf-8") == "<|im_start|>user\n急須の説明文 ☕<|im_end|>\n<|im_start|>assistant\n".encode()


def test_an_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown prompt format 'vicuna'"):
        render_prompt(MESSAGES, "vicuna")
    assert set(PROMPT_FORMATS) == {"chatml", "llama3", "plain"}
