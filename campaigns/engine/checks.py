"""Copy checks: does a piece of copy fit its channel?

A template carries a list of checks (plain JSON objects, validated by :data:`CHECK_LIST`);
the engine runs them on each finished attempt, in its own process, with no provider call:

- length: ``max_chars`` / ``min_chars`` (grapheme clusters, Google Ads width or X's
  weighting), ``max_words`` / ``min_words``, ``max_lines``, ``sms`` (GSM-7 or UCS-2 units);
- terms: ``must_include`` / ``must_not_include`` (case-insensitive, whole words where the
  script separates words, substrings in scripts that don't: Chinese, Japanese, Thai…);
- ``regex`` must match or must not match, in RE2 syntax: Google's linear-time engine, so no
  pattern can hang a worker (no backtracking) or the process compiling it (bounded memory);
- ``language``: the copy reads as the cell's language (lingua, offline); unclear → passes
  with a note;
- ``format``: no leftover template syntax or placeholder brackets, JSON when asked, and
  surrounding quotes stripped (or failed).

Every failure carries a reason a person understands: "43 characters; the limit is 30".
Channel presets (:data:`PRESETS`) expand to checks.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import re2
import regex
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

__all__ = [
    "CHECK_LIST",
    "MAX_CHECKS",
    "PRESETS",
    "Check",
    "CheckReport",
    "CheckResult",
    "CheckSpecError",
    "CheckSuite",
    "checks_dump",
    "checks_parse",
    "feedback_message",
    "measure",
    "Preset",
    "preset_checks",
    "sms_units",
]

MAX_CHECKS = 30
MAX_TERMS = 100
MAX_TERM_CHARS = 200
MAX_PATTERN_CHARS = 500
RE2_MAX_MEMORY = 8 << 20
"""Bytes one compiled pattern may use; a bigger one (nested counted repeats) is refused when saved."""
LANGUAGE_MIN_LETTERS = 12
# The detector runs in low-accuracy mode (trigrams only: 30 MB instead of 440 MB), which misreads
# a handful of words ("Durable reliable quiet" as Spanish, 82%): copy shorter than this many words
# fails the language check only when another language is at least SHORT_TEXT_MIN_CONFIDENCE likely.
SHORT_TEXT_WORDS = 6
SHORT_TEXT_MIN_CONFIDENCE = 0.9
"""Shorter copy is too short for a language detector to judge: it passes with a note."""

Counting = Literal["graphemes", "google_ads", "x"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MaxChars(_Spec):
    """At most ``value`` characters, counted the channel's way."""

    kind: Literal["max_chars"]
    value: int = Field(ge=1, le=100_000)
    counting: Counting = Field(
        "graphemes",
        description="graphemes: what a reader sees as one character (emoji, accented letters count 1); "
        "google_ads: East Asian wide and full-width characters count 2; x: X's weighting (CJK and emoji count 2)",
    )
    stop_margin: int | None = Field(
        None, ge=0, le=100_000,
        description="stop the stream once the copy is longer than value + stop_margin (saves output tokens)",
    )


class MinChars(_Spec):
    kind: Literal["min_chars"]
    value: int = Field(ge=1, le=100_000)
    counting: Counting = "graphemes"


class MaxWords(_Spec):
    kind: Literal["max_words"]
    value: int = Field(ge=1, le=20_000)


class MinWords(_Spec):
    kind: Literal["min_words"]
    value: int = Field(ge=1, le=20_000)


class MaxLines(_Spec):
    kind: Literal["max_lines"]
    value: int = Field(ge=1, le=10_000)


class Sms(_Spec):
    """Fits in ``segments`` SMS: 160 GSM-7 characters (153 per part when split), or 70
    (67) as soon as one character needs UCS-2."""

    kind: Literal["sms"]
    segments: int = Field(1, ge=1, le=10)


Term = Annotated[str, Field(min_length=1, max_length=MAX_TERM_CHARS)]


class _Terms(_Spec):
    terms: list[Term] = Field(
        min_length=1, max_length=MAX_TERMS,
        description="case-insensitive; whole words where the script has them; may use {{ product.name }}",
    )

    @field_validator("terms")
    @classmethod
    def _not_blank(cls, terms: list[str]) -> list[str]:
        if any(not t.strip() for t in terms):
            raise ValueError("a term must not be blank")
        return terms


class MustInclude(_Terms):
    kind: Literal["must_include"]


class MustNotInclude(_Terms):
    kind: Literal["must_not_include"]


class Regex(_Spec):
    kind: Literal["regex"]
    pattern: str = Field(
        min_length=1, max_length=MAX_PATTERN_CHARS,
        description="RE2 syntax (linear time: no lookarounds or backreferences; (?i) for case-insensitive)",
    )
    must_match: bool = True
    description: str = Field("", max_length=200, description="the reason shown when the check fails, e.g. 'more than 30 hashtags'")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        re2_compile(pattern)
        return pattern


def _re2_options() -> Any:
    options = re2.Options()
    options.max_mem = RE2_MAX_MEMORY
    options.log_errors = False
    return options


_RE2_OPTIONS = _re2_options()


def re2_compile(pattern: str) -> Any:
    """A compiled RE2 pattern; ValueError with RE2's reason if it is not one (lookarounds,
    backreferences and over-large repeats are not: RE2 guarantees linear time)."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"not a valid regular expression (RE2 syntax): {reason}") from exc


class LanguageCheck(_Spec):
    kind: Literal["language"]
    language: str | None = Field(
        None, max_length=35, description="ISO 639-1 code or English name; default: the cell's language"
    )
    min_confidence: float = Field(
        0.7, ge=0.0, le=1.0, description="fail only when another language is at least this likely"
    )


class FormatCheck(_Spec):
    kind: Literal["format"]
    placeholders: bool = Field(True, description="fail on leftover template syntax or placeholder brackets")
    valid_json: bool = Field(False, description="the copy must be valid JSON")
    quotes: Literal["strip", "fail", "allow"] = Field(
        "strip", description="surrounding quotes: strip them before checking (and from the copy), fail, or allow"
    )


Check = Annotated[
    MaxChars | MinChars | MaxWords | MinWords | MaxLines | Sms | MustInclude | MustNotInclude | Regex
    | LanguageCheck | FormatCheck,
    Field(discriminator="kind"),
]
CHECK_LIST: TypeAdapter[list[Check]] = TypeAdapter(Annotated[list[Check], Field(max_length=MAX_CHECKS)])


class CheckSpecError(ValueError):
    """A checks list that does not validate; ``field`` names the offending entry."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def checks_parse(raw: Any, *, field: str = "checks") -> list[Check]:
    """Validate a JSON list of checks; the error names the entry and field at fault."""
    try:
        return CHECK_LIST.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = field + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}"
            for part in first["loc"]
            if not (isinstance(part, str) and part in _KINDS)  # the union's tag in the path says nothing
        )
        raise CheckSpecError(loc, first["msg"]) from exc


def checks_dump(checks: Sequence[Check]) -> list[dict[str, Any]]:
    """Checks as the JSON stored on a template (defaults filled in, so a later default can't change them)."""
    return [c.model_dump(mode="json") for c in checks]


_KINDS = {
    "max_chars", "min_chars", "max_words", "min_words", "max_lines", "sms", "must_include", "must_not_include",
    "regex", "language", "format",
}


# --- presets --------------------------------------------------------------------------------------
# Each preset's source is in docs/CHECKS.md.
PRESETS: dict[str, list[dict[str, Any]]] = {
    "google_ads_headline": [
        {"kind": "max_chars", "value": 30, "counting": "google_ads", "stop_margin": 30},
        {"kind": "format"},
    ],
    "google_ads_description": [
        {"kind": "max_chars", "value": 90, "counting": "google_ads", "stop_margin": 60},
        {"kind": "format"},
    ],
    "meta_title": [{"kind": "max_chars", "value": 60}, {"kind": "format"}],
    "meta_description": [{"kind": "max_chars", "value": 160}, {"kind": "format"}],
    "x_post": [{"kind": "max_chars", "value": 280, "counting": "x"}, {"kind": "format"}],
    "sms": [{"kind": "sms", "segments": 1}, {"kind": "format"}],
    "push_notification": [{"kind": "max_chars", "value": 110}, {"kind": "max_lines", "value": 2}, {"kind": "format"}],
    "instagram_caption": [
        {"kind": "max_chars", "value": 2200},
        {"kind": "regex", "pattern": r"(?:[^#]*#\w){31}", "must_match": False, "description": "more than 30 hashtags"},
        {"kind": "format"},
    ],
}
Preset = Literal[
    "google_ads_headline", "google_ads_description", "meta_title", "meta_description", "x_post", "sms",
    "push_notification", "instagram_caption",
]


def preset_checks(name: str) -> list[Check]:
    if name not in PRESETS:
        raise CheckSpecError("preset", f"unknown preset '{name}'; one of {', '.join(PRESETS)}")
    return checks_parse(PRESETS[name])


# --- measuring ------------------------------------------------------------------------------------
_GRAPHEME = regex.compile(r"\X")
# Scripts written without spaces between words: terms match as substrings there.
_UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_WORD_CHAR = rf"[[\p{{L}}\p{{N}}\p{{M}}_]--[{_UNSPACED}]]"
_WORDS = regex.compile(rf"[{_UNSPACED}]|{_WORD_CHAR}+(?:['’]{_WORD_CHAR}+)*", regex.V1)
# X counts these code points as 1 and everything else (CJK, emoji…) as 2 (twitter-text, config v3).
_X_LIGHT = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))


def _graphemes(text: str) -> list[str]:
    clusters: list[str] = _GRAPHEME.findall(text)
    return clusters


def _wide(grapheme: str) -> bool:
    return unicodedata.east_asian_width(grapheme[0]) in ("F", "W")


def _x_weight(grapheme: str) -> int:
    if len(grapheme) > 1 and any(unicodedata.category(c) == "So" or 0x1F000 <= ord(c) for c in grapheme):
        return 2  # an emoji sequence counts as one emoji
    return max(1 if any(lo <= ord(c) <= hi for lo, hi in _X_LIGHT) else 2 for c in grapheme)


def measure(text: str, counting: str = "graphemes") -> int:
    """The length of ``text`` under a channel's counting rule."""
    clusters = _graphemes(text)
    if counting == "google_ads":
        return sum(2 if _wide(g) else 1 for g in clusters)
    if counting == "x":
        return sum(_x_weight(g) for g in clusters)
    return len(clusters)


def count_words(text: str) -> int:
    return len(_WORDS.findall(text))


GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"


def sms_units(text: str) -> tuple[str, int]:
    """The encoding an SMS of ``text`` needs and its length in that encoding's units.

    GSM-7 extension characters (``€ [ ] { } ~ ^ | \\``) take two septets; in UCS-2 a
    character outside the Basic Multilingual Plane (most emoji) takes two code units.
    """
    if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text):
        return "GSM-7", sum(2 if c in GSM7_EXTENDED else 1 for c in text)
    return "UCS-2", len(text.encode("utf-16-le")) // 2


def _sms_limit(encoding: str, segments: int) -> int:
    single, part = (160, 153) if encoding == "GSM-7" else (70, 67)
    return single if segments == 1 else part * segments


# --- results --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    kind: str
    passed: bool
    reason: str = ""
    """Why it failed, for a person ("43 characters; the limit is 30")."""
    note: str = ""
    """Said of a pass that could not be judged (copy too short to tell its language)."""

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "passed": self.passed}
        if self.reason:
            data["reason"] = self.reason
        if self.note:
            data["note"] = self.note
        return data


@dataclass(frozen=True)
class CheckReport:
    text: str
    """The copy as checked (surrounding quotes stripped when a format check says so)."""
    results: tuple[CheckResult, ...] = ()

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[str]:
        return [r.reason for r in self.results if not r.passed]

    @property
    def notes(self) -> list[str]:
        return [r.note for r in self.results if r.note]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_COUNTING_WORD = {"graphemes": "character", "google_ads": "character (Google Ads width)", "x": "character (X weighting)"}


def _chars(n: int, counting: str) -> str:
    word = _COUNTING_WORD[counting]
    if n == 1:
        return f"1 {word}"
    head, _, tail = word.partition(" ")
    return f"{n} {head}s" + (f" {tail}" if tail else "")


# --- terms ----------------------------------------------------------------------------------------
def _term_pattern(term: str) -> regex.Pattern[str]:
    words = [regex.escape(w) for w in term.split()]
    body = r"\s+".join(words)
    first, last = term.strip()[0], term.strip()[-1]
    before = rf"(?<!{_WORD_CHAR})" if regex.match(_WORD_CHAR, first, flags=regex.V1) else ""
    after = rf"(?!{_WORD_CHAR})" if regex.match(_WORD_CHAR, last, flags=regex.V1) else ""
    return regex.compile(before + body + after, regex.IGNORECASE | regex.FULLCASE | regex.V1)


# --- language -------------------------------------------------------------------------------------
# Detection runs on the languages marketers write in most: a low-accuracy (trigram) lingua
# detector over these loads in ~0.3 s and ~30 MB, where all 75 languages at high accuracy
# take seconds and gigabytes. A language outside the set is not judged (pass with a note).
DETECTED_LANGUAGES = (
    "ARABIC", "CHINESE", "CZECH", "DANISH", "DUTCH", "ENGLISH", "FINNISH", "FRENCH", "GERMAN", "GREEK", "HEBREW",
    "HINDI", "HUNGARIAN", "INDONESIAN", "ITALIAN", "JAPANESE", "KOREAN", "BOKMAL", "POLISH", "PORTUGUESE",
    "ROMANIAN", "RUSSIAN", "SPANISH", "SWEDISH", "THAI", "TURKISH", "UKRAINIAN", "VIETNAMESE",
)
_ALIASES = {"nb": "BOKMAL", "no": "BOKMAL", "norwegian": "BOKMAL", "zh": "CHINESE", "iw": "HEBREW"}

_detector_lock = threading.Lock()
_detector: Any = None


def _language_detector() -> Any:
    """One detector per process, built on first use (thread-safe)."""
    global _detector
    with _detector_lock:
        if _detector is None:
            from lingua import Language, LanguageDetectorBuilder

            languages = [getattr(Language, name) for name in DETECTED_LANGUAGES]
            _detector = (
                LanguageDetectorBuilder.from_languages(*languages)
                .with_low_accuracy_mode()
                .with_preloaded_language_models()
                .build()
            )
        return _detector


def language_name(code: str) -> str | None:
    """The detector's name of a language code or name (``en``, ``en-GB``, ``French``), None if unknown."""
    key = code.strip().lower().replace("_", "-")
    if not key:
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    base = key.split("-")[0]
    if base in _ALIASES:
        return _ALIASES[base]
    from lingua import IsoCode639_1, Language

    if len(base) == 2:
        try:
            name: str = Language.from_iso_code_639_1(IsoCode639_1.from_str(base)).name
            return name
        except ValueError:
            return None
    upper = key.upper()
    return upper if upper in {lang.name for lang in Language.all()} else None


def _language_result(check: LanguageCheck, text: str, cell_language: str) -> CheckResult:
    wanted_code = check.language or cell_language
    wanted = language_name(wanted_code)
    if wanted is None or wanted not in DETECTED_LANGUAGES:
        return CheckResult("language", True, note=f"language not checked: '{wanted_code}' is not one the detector knows")
    letters = sum(1 for c in text if c.isalpha())
    if letters < LANGUAGE_MIN_LETTERS:
        return CheckResult("language", True, note="language not checked: too short to tell")
    values = _language_detector().compute_language_confidence_values(text)
    confidence = {v.language.name: float(v.value) for v in values}
    top_name, top_value = (values[0].language.name, float(values[0].value)) if values else ("", 0.0)
    mine = confidence.get(wanted, 0.0)
    if top_name == wanted or mine >= 0.5:
        return CheckResult("language", True)
    needed = check.min_confidence
    if count_words(text) < SHORT_TEXT_WORDS:
        needed = max(needed, SHORT_TEXT_MIN_CONFIDENCE)
    if top_value >= needed:
        return CheckResult(
            "language", False,
            reason=f"reads as {top_name.title()} ({top_value:.0%} likely), not {wanted.title()}",
        )
    return CheckResult("language", True, note=f"language unclear: {wanted.title()} {mine:.0%}, {top_name.title()} {top_value:.0%}")


# --- format ---------------------------------------------------------------------------------------
_PLACEHOLDER = regex.compile(
    r"\{\{.*?\}\}|\{%.*?%\}|\{\{|\}\}|\{%|%\}"  # template syntax
    r"|\{[A-Za-z_][\w.]{0,40}\}"  # {product_name}
    r"|\[(?:[A-Z][\w .-]{0,40}|(?:insert|your|product|brand|name|company)\b[^\]\n]{0,40})\](?!\()"  # [Brand Name]
    r"|<[A-Z][A-Z0-9 _-]{1,40}>",  # <PRODUCT>
    regex.IGNORECASE,
)
_QUOTES = {'"': '"', "'": "'", "“": "”", "„": "“", "«": "»", "‘": "’", "「": "」", "『": "』", "`": "`"}


def _quoted(text: str) -> bool:
    return len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]


def _strip_quotes(text: str) -> str:
    while _quoted(text):
        text = text[1:-1].strip()
    return text


def _format_results(check: FormatCheck, text: str) -> list[CheckResult]:
    results: list[CheckResult] = []
    if check.quotes == "fail" and _quoted(text):
        results.append(CheckResult("format", False, reason="the copy is wrapped in quotes"))
    if check.placeholders:
        found = _PLACEHOLDER.search(text)
        if found is not None:
            results.append(CheckResult("format", False, reason=f"leftover placeholder or template syntax: {found.group(0)[:60]}"))
    if check.valid_json:
        try:
            json.loads(text)
        except ValueError as exc:
            results.append(CheckResult("format", False, reason=f"not valid JSON: {exc}"))
    return results or [CheckResult("format", True)]


# --- the suite ------------------------------------------------------------------------------------
@dataclass
class CheckSuite:
    """The checks of one cell, compiled once: terms already rendered for its product."""

    checks: list[Check]
    language: str = ""
    """The cell's language (the default of a language check)."""
    _terms: dict[str, regex.Pattern[str]] = field(default_factory=dict, repr=False)
    _patterns: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, raw: Sequence[Mapping[str, Any]], *, language: str = "") -> CheckSuite:
        return cls(checks=checks_parse(list(raw)), language=language)

    def __bool__(self) -> bool:
        return bool(self.checks)

    @property
    def stream_limit(self) -> tuple[int, str] | None:
        """(length, counting) past which a stream may be stopped: the copy can no longer pass."""
        limits = [(c.value + c.stop_margin, c.counting) for c in self.checks if isinstance(c, MaxChars) and c.stop_margin is not None]
        return min(limits) if limits else None

    def clean(self, text: str) -> str:
        text = text.strip()
        if any(isinstance(c, FormatCheck) and c.quotes == "strip" for c in self.checks):
            text = _strip_quotes(text)
        return text

    def run(self, text: str) -> CheckReport:
        """Check ``text`` (cleaned first); never raises on any text."""
        text = self.clean(text)
        results: list[CheckResult] = []
        for check in self.checks:
            results.extend(self._one(check, text))
        return CheckReport(text=text, results=tuple(results))

    def _term(self, term: str) -> regex.Pattern[str]:
        pattern = self._terms.get(term)
        if pattern is None:
            pattern = self._terms[term] = _term_pattern(term)
        return pattern

    def _one(self, check: Check, text: str) -> list[CheckResult]:
        kind = check.kind
        if isinstance(check, MaxChars | MinChars):
            n = measure(text, check.counting)
            too_long = isinstance(check, MaxChars) and n > check.value
            too_short = isinstance(check, MinChars) and n < check.value
            if too_long or too_short:
                bound = "limit" if too_long else "minimum"
                return [CheckResult(kind, False, reason=f"{_chars(n, check.counting)}; the {bound} is {check.value}")]
            return [CheckResult(kind, True)]
        if isinstance(check, MaxWords | MinWords):
            n = count_words(text)
            if (isinstance(check, MaxWords) and n > check.value) or (isinstance(check, MinWords) and n < check.value):
                bound = "limit" if isinstance(check, MaxWords) else "minimum"
                return [CheckResult(kind, False, reason=f"{_plural(n, 'word')}; the {bound} is {check.value}")]
            return [CheckResult(kind, True)]
        if isinstance(check, MaxLines):
            n = len([line for line in text.splitlines() if line.strip()])
            if n > check.value:
                return [CheckResult(kind, False, reason=f"{_plural(n, 'line')}; the limit is {check.value}")]
            return [CheckResult(kind, True)]
        if isinstance(check, Sms):
            encoding, units = sms_units(text)
            limit = _sms_limit(encoding, check.segments)
            if units > limit:
                parts = f" in {check.segments} parts" if check.segments > 1 else ""
                return [CheckResult(kind, False, reason=f"{units} {encoding} characters; an SMS{parts} holds {limit}")]
            return [CheckResult(kind, True)]
        if isinstance(check, MustInclude):
            missing = [t for t in check.terms if not self._term(t).search(text)]
            if missing:
                return [CheckResult(kind, False, reason=f"missing {_list(missing)}")]
            return [CheckResult(kind, True)]
        if isinstance(check, MustNotInclude):
            found = [t for t in check.terms if self._term(t).search(text)]
            if found:
                return [CheckResult(kind, False, reason=f"contains {_list(found)}, which must not appear")]
            return [CheckResult(kind, True)]
        if isinstance(check, Regex):
            pattern = self._patterns.get(check.pattern)
            if pattern is None:
                pattern = self._patterns[check.pattern] = re2_compile(check.pattern)
            return [_regex_result(check, pattern, text)]
        if isinstance(check, LanguageCheck):
            return [_language_result(check, text, self.language)]
        return _format_results(check, text)


def _list(terms: Sequence[str]) -> str:
    quoted = [f"“{t}”" for t in terms[:5]]
    more = f" and {len(terms) - 5} more" if len(terms) > 5 else ""
    return ", ".join(quoted) + more


def _regex_result(check: Regex, pattern: Any, text: str) -> CheckResult:
    what = f"/{check.pattern[:80]}/"
    matched = pattern.search(text) is not None
    if matched == check.must_match:
        return CheckResult("regex", True)
    default = f"does not match {what}" if check.must_match else f"matches {what}, which it must not"
    return CheckResult("regex", False, reason=check.description or default)


FEEDBACK_HEADER = "Your copy did not pass these checks:"


def feedback_message(failures: Sequence[str]) -> str:
    """The user message that asks for a rewrite, appended after the failed copy."""
    lines = "\n".join(f"- {reason}" for reason in failures)
    return f"{FEEDBACK_HEADER}\n{lines}\nRewrite it so that it passes every check. Reply with the copy only."
