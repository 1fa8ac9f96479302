"""Copy checks: every kind, with the edge cases of real copy (emoji, combining marks, CJK, RTL, SMS)."""

from __future__ import annotations

import time

import pytest

from campaigns.engine.checks import (
    MAX_CHECKS,
    PRESETS,
    CheckSpecError,
    CheckSuite,
    checks_parse,
    count_words,
    feedback_message,
    measure,
    preset_checks,
    sms_units,
)


def failures(checks: list[dict], text: str, language: str = "en") -> list[str]:
    return CheckSuite.from_json(checks, language=language).run(text).failures


# --- length ---------------------------------------------------------------------------------------
def test_max_chars_reason_says_how_long_and_the_limit() -> None:
    assert failures([{"kind": "max_chars", "value": 30}], "x" * 43) == ["43 characters; the limit is 30"]
    assert failures([{"kind": "max_chars", "value": 30}], "x" * 30) == []


def test_emoji_and_combining_marks_count_once() -> None:
    # thumbs up + skin tone, e + combining acute, a flag, a family joined by ZWJ
    text = "👍🏽e\u0301🇫🇷👨\u200d👩\u200d👧"
    assert measure(text) == 4
    assert failures([{"kind": "max_chars", "value": 4}], text) == []
    assert failures([{"kind": "min_chars", "value": 5}], text) == ["4 characters; the minimum is 5"]


def test_google_ads_width_counts_cjk_twice() -> None:
    assert measure("日本語のコピー", "google_ads") == 14
    assert measure("日本語のコピー") == 7
    assert measure("ＡＢ", "google_ads") == 4  # full-width Latin
    assert measure("Café", "google_ads") == 4
    headline = "最高のランニングシューズを今すぐ手に入れよう"  # 22 characters, 44 wide
    assert failures([{"kind": "max_chars", "value": 30, "counting": "google_ads"}], headline) == [
        "44 characters (Google Ads width); the limit is 30"
    ]
    assert failures([{"kind": "max_chars", "value": 30}], headline) == []


def test_x_weighting() -> None:
    assert measure("hello", "x") == 5
    assert measure("日本", "x") == 4
    assert measure("👍🏽", "x") == 2


def test_rtl_text_counts_its_characters() -> None:
    text = "שלום עולם"  # Hebrew, 9 characters
    assert measure(text) == 9
    assert count_words(text) == 2
    arabic = "مرحبا بالعالم"
    assert count_words(arabic) == 2


def test_words_and_lines() -> None:
    assert failures([{"kind": "max_words", "value": 3}], "one two three four") == ["4 words; the limit is 3"]
    assert failures([{"kind": "min_words", "value": 3}], "don't stop") == ["2 words; the minimum is 3"]
    assert count_words("コーヒー豆") == 5  # each character of an unspaced script is a word
    assert failures([{"kind": "max_lines", "value": 2}], "a\n\nb\nc") == ["3 lines; the limit is 2"]


# --- SMS ------------------------------------------------------------------------------------------
def test_gsm7_vs_ucs2() -> None:
    assert sms_units("Hello €5") == ("GSM-7", 9)  # € is an extension character: two septets
    assert sms_units("Ça coûte 5 €") == ("UCS-2", 12)  # û is not GSM-7
    assert sms_units("Hi 😀") == ("UCS-2", 5)  # an emoji is a surrogate pair
    sms = [{"kind": "sms"}]
    assert failures(sms, "a" * 160) == []
    assert failures(sms, "a" * 161) == ["161 GSM-7 characters; an SMS holds 160"]
    assert failures(sms, "é" * 70 + "û") == ["71 UCS-2 characters; an SMS holds 70"]
    assert failures([{"kind": "sms", "segments": 2}], "a" * 307) == ["307 GSM-7 characters; an SMS in 2 parts holds 306"]


# --- terms ----------------------------------------------------------------------------------------
def test_must_include_is_case_insensitive_and_whole_word() -> None:
    check = [{"kind": "must_include", "terms": ["Trail Runner"]}]
    assert failures(check, "The TRAIL  runner is here") == []
    assert failures(check, "The Trail Runners are here") == ["missing “Trail Runner”"]


def test_must_not_include_whole_words_only() -> None:
    check = [{"kind": "must_not_include", "terms": ["Nike", "cheap"]}]
    assert failures(check, "Nikeshoes are cheaper") == []
    assert failures(check, "Better than nike, and cheap!") == ["contains “Nike”, “cheap”, which must not appear"]
    assert failures([{"kind": "must_not_include", "terms": ["straße"]}], "STRASSE") == [
        "contains “straße”, which must not appear"
    ]


def test_unspaced_scripts_match_substrings() -> None:
    assert failures([{"kind": "must_include", "terms": ["コーヒー"]}], "毎日のコーヒー豆") == []
    assert failures([{"kind": "must_not_include", "terms": ["最安"]}], "業界最安値") == [
        "contains “最安”, which must not appear"
    ]
    # a Latin name right before Japanese text is still a whole word
    assert failures([{"kind": "must_include", "terms": ["Acme"]}], "Acme製品") == []


# --- regex ----------------------------------------------------------------------------------------
def test_regex_must_match_and_must_not_match() -> None:
    assert failures([{"kind": "regex", "pattern": r"\d+%", "must_match": True}], "Save 20% today") == []
    assert failures([{"kind": "regex", "pattern": r"\d+%", "description": "no discount"}], "Save today") == [
        "no discount"
    ]
    assert failures([{"kind": "regex", "pattern": "!!", "must_match": False}], "Wow!!") == [
        "matches /!!/, which it must not"
    ]


def test_catastrophic_patterns_run_in_linear_time() -> None:
    # (a|aa)+$ backtracks exponentially in a backtracking engine; RE2 answers at once.
    suite = CheckSuite.from_json([{"kind": "regex", "pattern": r"(a|aa)+$", "must_match": False}])
    started = time.monotonic()
    report = suite.run("a" * 20_000 + "b")
    assert time.monotonic() - started < 30  # bounded (a backtracking engine would run for ages)
    assert report.passed


@pytest.mark.parametrize(
    "pattern",
    [
        "((a{1000}){1000}){1000}",  # compiling this hangs a backtracking engine; RE2 refuses it at once
        r"(\w+)\1",  # backreferences need backtracking
        "(?<=a)b",  # lookarounds too
    ],
)
def test_patterns_re2_cannot_run_in_linear_time_are_refused(pattern: str) -> None:
    with pytest.raises(CheckSpecError) as exc:
        checks_parse([{"kind": "regex", "pattern": pattern}])
    assert exc.value.field == "checks[0].pattern"
    assert "not a valid regular expression (RE2 syntax)" in exc.value.message


# --- language -------------------------------------------------------------------------------------
def test_language_passes_the_right_language_and_fails_another() -> None:
    check = [{"kind": "language"}]
    assert failures(check, "Fresh coffee beans, roasted every single morning", "en") == []
    assert failures(check, "Des grains de café frais, torréfiés chaque matin", "en") == [
        "reads as French (100% likely), not English"
    ]
    assert failures(check, "Des grains de café frais, torréfiés chaque matin", "fr-FR") == []
    assert failures([{"kind": "language", "language": "ja"}], "毎朝焙煎した新鮮なコーヒー豆をお届けします") == []


def test_language_short_or_unknown_passes_with_a_note() -> None:
    report = CheckSuite.from_json([{"kind": "language"}], language="en").run("Kaffee!")
    assert report.passed and report.notes == ["language not checked: too short to tell"]
    report = CheckSuite.from_json([{"kind": "language"}], language="tlh").run("Some text long enough to judge")
    assert report.passed and "not one the detector knows" in report.notes[0]


# --- format ---------------------------------------------------------------------------------------
def test_format_strips_quotes_and_flags_placeholders() -> None:
    suite = CheckSuite.from_json([{"kind": "format"}, {"kind": "max_chars", "value": 10}])
    report = suite.run('  "“Run free”"  ')
    assert report.text == "Run free" and report.passed
    assert failures([{"kind": "format"}], "Buy [Product Name] now") == [
        "leftover placeholder or template syntax: [Product Name]"
    ]
    assert failures([{"kind": "format"}], "Buy {{ product.name }} now")[0].startswith("leftover placeholder")
    assert failures([{"kind": "format"}], "See [our shop](https://example.com)") == []
    assert failures([{"kind": "format", "quotes": "fail"}], '"Hi there"') == ["the copy is wrapped in quotes"]


def test_format_json() -> None:
    assert failures([{"kind": "format", "valid_json": True}], '{"headline": "Run"}') == []
    assert failures([{"kind": "format", "valid_json": True}], "{headline: Run}")[0].startswith("not valid JSON")


# --- validation and presets -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([{"kind": "max_chars", "value": 0}], "checks[0].value"),
        ([{"kind": "max_chars", "value": 5}, {"kind": "regex", "pattern": "("}], "checks[1].pattern"),
        ([{"kind": "must_include", "terms": []}], "checks[0].terms"),
        ([{"kind": "must_include", "terms": ["x" * 201]}], "checks[0].terms[0]"),
        ([{"kind": "nope"}], "checks[0]"),
        ([{"kind": "max_chars", "value": 5, "extra": 1}], "checks[0].extra"),
        ([{"kind": "max_chars", "value": 5}] * (MAX_CHECKS + 1), "checks"),
        ("not a list", "checks"),
    ],
)
def test_invalid_checks_name_the_field(raw: object, field: str) -> None:
    with pytest.raises(CheckSpecError) as exc:
        checks_parse(raw)
    assert exc.value.field == field


def test_every_preset_expands_to_valid_checks() -> None:
    for name in PRESETS:
        assert preset_checks(name)
    with pytest.raises(CheckSpecError):
        preset_checks("billboard")
    headline = CheckSuite(checks=preset_checks("google_ads_headline"))
    assert headline.run("Run Lighter on Every Trail").passed
    assert headline.stream_limit == (60, "google_ads")
    caption = CheckSuite(checks=preset_checks("instagram_caption"))
    assert caption.run("Go " + " ".join(f"#t{i}" for i in range(30))).passed
    assert caption.run("Go " + " ".join(f"#t{i}" for i in range(31))).failures == [
        "more than 30 hashtags"
    ]


def test_feedback_lists_every_reason() -> None:
    message = feedback_message(["43 characters; the limit is 30", "missing “Acme”"])
    assert "- 43 characters; the limit is 30\n- missing “Acme”" in message


def test_a_few_english_words_are_not_failed_as_another_language_on_a_weak_reading() -> None:
    """Trigrams alone read "Durable reliable quiet" as Spanish (82%): short copy needs 90% to fail."""
    suite = CheckSuite.from_json([{"kind": "language"}], language="en")
    for text in ("Durable reliable quiet", "Life favorite quiet", "Love elegant you sharp"):
        assert suite.run(text).passed, text
    for text in ("Chaussures légères pour courir vite", "Zapatos ligeros para correr rápido cada día"):
        result = suite.run(text).results[0]
        assert not result.passed and "not English" in result.reason, text
