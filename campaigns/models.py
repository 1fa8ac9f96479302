"""Data of copygen: the catalog, providers and models, campaigns and their generations."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator, URLValidator
from django.db import models

from campaigns.crypto import EncryptedTextField
from campaigns.engine.checks import CheckSpecError, checks_dump, checks_parse
from campaigns.engine.status import TERMINAL as TERMINAL_STATUSES
from campaigns.engine.status import BreakerState, GenerationStatus
from campaigns.providers.base import OPENAI, PRESETS, PROMPT_FORMAT_NAMES, PROTOCOLS, TARGET_PATTERN, TRITON_GRPC
from campaigns.providers.openai_compatible import API_KEY_CHARS
from campaigns.services.products import MAX_DESCRIPTION_CHARS, json_too_deep, product_check
from campaigns.templating import validate_template_source

MONEY = {"max_digits": 20, "decimal_places": 10}
PRICE = {"max_digits": 14, "decimal_places": 6}


class Team(models.Model):
    """Marketers who share campaigns with each other."""

    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="copygen_teams", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# Stored attributes nested deeper than this are not decoded (a row written before the
# limits of campaigns.services.products could otherwise exhaust the stack of every reader).
READABLE_JSON_DEPTH = 100
UNREADABLE_ATTRIBUTES = {"_error": f"attributes nested more than {READABLE_JSON_DEPTH} levels deep; save new ones"}


class AttributesField(models.JSONField):
    """A JSON column whose too-deeply nested stored values read as a notice instead of failing."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if isinstance(value, str) and json_too_deep(value, READABLE_JSON_DEPTH):
            return dict(UNREADABLE_ATTRIBUTES)
        return super().from_db_value(value, expression, connection)


class Product(models.Model):
    """An item of the catalog; its fields are what templates render from.

    What a product may hold is checked in one place, ``campaigns.services.products``.
    """

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=MAX_DESCRIPTION_CHARS)
    attributes = AttributesField(default=dict, blank=True)
    language = models.CharField(max_length=35, default="en")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        product_check(self)


class PromptTemplate(models.Model):
    """A prompt written in Liquid over ``product.*`` and ``language`` (see :mod:`campaigns.templating`)."""

    name = models.CharField(max_length=200)
    system_prompt = models.TextField(blank=True)
    body = models.TextField()
    checks = models.JSONField(
        default=list, blank=True, help_text='copy checks run on every cell, e.g. [{"kind": "max_chars", "value": 30}]'
    )
    needs_attention = models.BooleanField(
        default=False,
        help_text="kept as it was by a migration that could not convert it; refused at launch until saved again",
    )
    attention_reason = models.TextField(blank=True, help_text="why the template needs attention")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for field in ("system_prompt", "body"):
            try:
                validate_template_source(getattr(self, field))
            except ValidationError as exc:
                errors[field] = exc.messages[0]
        try:
            self.checks = checks_validate(self.checks)
        except ValidationError as exc:
            errors["checks"] = exc.messages[0]
        if errors:
            raise ValidationError(errors)

    def save(self, *args: object, **kwargs: object) -> None:
        # Templates are rendered by the engine long after they are saved: a template
        # that cannot render must never reach the database, whoever saves it. One that
        # validates is fixed: a mark left by a migration goes.
        self.clean()
        self.needs_attention, self.attention_reason = False, ""
        super().save(*args, **kwargs)  # type: ignore[arg-type]


def checks_validate(raw: object) -> list[dict[str, object]]:
    """A checks list validated, with defaults filled in (and its terms' template syntax checked)."""
    try:
        checks = checks_parse(raw)
    except CheckSpecError as exc:
        raise ValidationError(str(exc)) from exc
    for i, check in enumerate(checks):
        for j, term in enumerate(getattr(check, "terms", ())):
            try:
                validate_template_source(term)
            except ValidationError as exc:
                raise ValidationError(f"checks[{i}].terms[{j}]: {exc.messages[0]}") from exc
    return checks_dump(checks)


class BannedTerm(models.Model):
    """A term no copy of the organisation may contain: every campaign checks for these."""

    term = models.CharField(max_length=200, unique=True, help_text="case-insensitive; whole words where the script has them")
    note = models.CharField(max_length=200, blank=True, help_text="why it is banned (a competitor, a legal claim…)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["term"]

    def __str__(self) -> str:
        return self.term

    def clean(self) -> None:
        self.term = self.term.strip()
        if not self.term:
            raise ValidationError({"term": "a banned term must not be blank"})


class TemplateVersion(models.Model):
    """The text of a template as a campaign pinned it: editing the template later leaves it be."""

    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    system_prompt = models.TextField(blank=True)
    body = models.TextField()
    checks = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template_id", "-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="uniq_template_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"


validate_api_key = RegexValidator(
    rf"^{API_KEY_CHARS}*\Z", "an API key holds only printable ASCII characters, without spaces", code="invalid_api_key"
)


def validate_base_url(value: str) -> None:
    """An http(s) URL without user-info, query or fragment: the key goes in ``api_key``, never in the URL."""
    URLValidator(schemes=["http", "https"], message="base_url must be an http:// or https:// URL")(value)
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise ValidationError(
            "base_url must not hold a user name or password (user:pass@); put the key in api_key", code="userinfo"
        )
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValidationError(
            "base_url must not hold a query string or fragment (?…, #…); put the key in api_key", code="query"
        )


# Protocols (OpenAI HTTP, Triton gRPC) ----------------------------------------------------------
PROTOCOL_CHOICES = [(p, p) for p in PROTOCOLS]
PRESET_CHOICES = [(p, p) for p in PRESETS]
PROMPT_FORMAT_CHOICES = [(f, f) for f in PROMPT_FORMAT_NAMES]
MAX_CA_BUNDLE = 65536
validate_target = RegexValidator(TARGET_PATTERN, "a gRPC target is host:port, e.g. triton.internal:8001", code="invalid_target")


def validate_ca_bundle(value: str) -> None:
    if value and "-----BEGIN CERTIFICATE-----" not in value:
        raise ValidationError("a CA bundle holds PEM certificates (-----BEGIN CERTIFICATE-----)", code="invalid_ca_bundle")


class Provider(models.Model):
    """An LLM endpoint and its limits: OpenAI-compatible HTTP (``base_url``) or a Triton gRPC server (``target``).

    ``api_key`` belongs to the endpoint it was entered for: changing the scheme, host or port of
    ``base_url``, or the protocol, target or TLS of a gRPC one, needs the key again (see
    :func:`campaigns.services.providers.provider_save`).
    """

    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(
        max_length=500, blank=True, validators=[validate_base_url],
        help_text="openai protocol only: e.g. https://api.openai.com/v1 (http or https; no user:pass@, query or fragment)",
    )
    api_key = EncryptedTextField(blank=True, validators=[validate_api_key])
    api_key_hint = models.CharField(max_length=8, blank=True, editable=False)
    max_concurrency = models.PositiveIntegerField(default=16, validators=[MinValueValidator(1)])
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="requests per minute")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="tokens per minute")
    timeout = models.FloatField(default=60.0, help_text="seconds per attempt", validators=[MinValueValidator(0.1)])
    max_retries = models.PositiveSmallIntegerField(
        default=2, validators=[MaxValueValidator(10)], help_text="retries of 408/409/429/5xx and connection errors"
    )
    breaker_state = models.CharField(
        max_length=10, default=BreakerState.CLOSED.value, editable=False,
        help_text="circuit breaker, as last reported by an engine",
    )
    breaker_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # --- Billing: how usage is read and prices are looked up ---
    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI"
        DEEPSEEK = "deepseek", "DeepSeek"
        OPENROUTER = "openrouter", "OpenRouter"
        VLLM = "vllm", "vLLM"
        OLLAMA = "ollama", "Ollama"
        LLAMACPP = "llamacpp", "llama.cpp server"
        OTHER = "other", "Other"

    kind = models.CharField(
        max_length=20, choices=Kind.choices, default=Kind.OTHER,
        help_text="the service behind the endpoint: how its usage is read and where its prices are looked up",
    )
    # --- end billing ---
    created_at = models.DateTimeField(auto_now_add=True)
    # How it is called: OpenAI-compatible HTTP (base_url) or Triton gRPC (target, tls, ca_bundle) --
    protocol = models.CharField(
        max_length=16, choices=PROTOCOL_CHOICES, default=OPENAI,
        help_text="openai: OpenAI-compatible HTTP at the base URL; triton-grpc: Triton / KServe v2 gRPC at the target",
    )
    target = models.CharField(
        max_length=260, blank=True, validators=[validate_target], help_text="host:port of a gRPC server (triton-grpc)"
    )
    tls = models.BooleanField(default=False, help_text="gRPC over TLS (triton-grpc)")
    ca_bundle = models.TextField(
        blank=True, max_length=MAX_CA_BUNDLE, validators=[validate_ca_bundle],
        help_text="PEM certificates to trust instead of the system roots (triton-grpc with TLS)",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_api_key(self, key: str) -> None:
        self.api_key = key
        self.api_key_hint = key[-4:] if key else ""

    def clean(self) -> None:
        super().clean()
        provider_protocol_check(self)


def provider_protocol_check(provider: Provider) -> None:
    """Each protocol's fields, and only those: a 4xx naming the field otherwise."""
    if provider.protocol == TRITON_GRPC:
        if not provider.target:
            raise ValidationError({"target": "a triton-grpc provider needs a target (host:port)"})
        if provider.base_url:
            raise ValidationError({"base_url": "base_url is for openai providers; a triton-grpc one has a target"})
        if provider.ca_bundle and not provider.tls:
            raise ValidationError({"ca_bundle": "a CA bundle needs tls on"})
        if provider.target and int(provider.target.rsplit(":", 1)[1]) > 65535:
            raise ValidationError({"target": "the port must be at most 65535"})
        return
    if not provider.base_url:
        raise ValidationError({"base_url": "an openai provider needs a base_url"})
    for field in ("target", "ca_bundle"):
        if getattr(provider, field):
            raise ValidationError({field: f"{field} is for triton-grpc providers only"})
    if provider.tls:
        raise ValidationError({"tls": "tls is for triton-grpc providers only (an openai base_url says https)"})


def model_protocol_check(model: LLMModel) -> None:
    """A model of a triton-grpc provider names its preset and prompt format; others don't."""
    if not model.provider_id:
        return
    grpc = model.provider.protocol == TRITON_GRPC  # the form's provider as edited, in the admin's inlines
    for field in ("preset", "prompt_format"):
        value = getattr(model, field)
        if grpc and not value:
            raise ValidationError({field: f"a model of a triton-grpc provider needs a {field}"})
        if not grpc and value:
            raise ValidationError({field: f"{field} is for models of triton-grpc providers only"})


class LLMModel(models.Model):
    """A model of a provider with its price per million tokens (USD)."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    name = models.CharField(max_length=200, help_text="the model name sent to the provider")
    label = models.CharField(max_length=200, blank=True, help_text="display name; defaults to the name")
    input_usd_per_mtok = models.DecimalField(**PRICE, validators=[MinValueValidator(Decimal(0))])
    output_usd_per_mtok = models.DecimalField(**PRICE, validators=[MinValueValidator(Decimal(0))])
    is_active = models.BooleanField(default=True)
    fallback = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="used when retries are exhausted on a retryable error",
    )
    # --- Billing: cache prices and where the prices came from ---
    cached_input_usd_per_mtok = models.DecimalField(
        **PRICE, null=True, blank=True, validators=[MinValueValidator(Decimal(0))],
        help_text="USD per million prompt tokens served from the provider's cache; empty: the input price",
    )
    cache_write_usd_per_mtok = models.DecimalField(
        **PRICE, null=True, blank=True, validators=[MinValueValidator(Decimal(0))],
        help_text="USD per million prompt tokens written to the provider's cache; empty: the input price",
    )
    price_source = models.CharField(
        max_length=60, default="manual", editable=False, help_text="'catalog <version>' or 'manual'"
    )
    price_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # --- Request options: what the model's server accepts ---
    class TokenLimitParam(models.TextChoices):
        MAX_TOKENS = "max_tokens"
        MAX_COMPLETION_TOKENS = "max_completion_tokens"

    token_limit_param = models.CharField(
        max_length=30, choices=TokenLimitParam.choices, default=TokenLimitParam.MAX_TOKENS,
        help_text="the request field that caps the answer (reasoning models want max_completion_tokens)",
    )
    send_temperature = models.BooleanField(
        default=True, help_text="send the campaign's temperature (reasoning models refuse any but the default)"
    )
    include_usage = models.BooleanField(
        default=True, help_text="ask for usage in the stream (stream_options.include_usage); some servers refuse it"
    )
    extra_body = models.JSONField(
        default=dict, blank=True,
        help_text='extra JSON fields merged into each request, e.g. {"reasoning_effort": "low"}; '
        "never model, messages or stream",
    )
    # --- end billing and request options ---

    # Triton gRPC models: the backend's tensor names and the prompt template -----------------
    preset = models.CharField(
        max_length=16, blank=True, choices=PRESET_CHOICES,
        help_text="triton-grpc only: vllm (vLLM backend) or tensorrt_llm (TensorRT-LLM ensemble)",
    )
    prompt_format = models.CharField(
        max_length=16, blank=True, choices=PROMPT_FORMAT_CHOICES,
        help_text="triton-grpc only: how the chat messages become the raw prompt (chatml, llama3, plain)",
    )

    class Meta:
        ordering = ["provider__name", "name"]
        constraints = [models.UniqueConstraint(fields=["provider", "name"], name="uniq_model_per_provider")]
        verbose_name = "LLM model"

    def __str__(self) -> str:
        return self.label or self.name

    def clean(self) -> None:
        try:
            validate_extra_body(self.extra_body)
        except ValidationError as exc:
            raise ValidationError({"extra_body": exc.messages[0]}) from exc
        super().clean()
        model_protocol_check(self)


EXTRA_BODY_MAX_BYTES = 4096
EXTRA_BODY_MAX_DEPTH = 5
EXTRA_BODY_MAX_KEYS = 32
EXTRA_BODY_RESERVED = ("model", "messages", "stream")


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def validate_extra_body(value: object) -> None:
    """A JSON object of at most 32 keys, 4 KB and 5 levels that never sets model, messages or stream."""
    if not isinstance(value, dict):
        raise ValidationError("extra_body must be a JSON object")
    if len(value) > EXTRA_BODY_MAX_KEYS:
        raise ValidationError(f"extra_body may hold at most {EXTRA_BODY_MAX_KEYS} keys")
    reserved = [k for k in EXTRA_BODY_RESERVED if k in value]
    if reserved:
        raise ValidationError(f"extra_body may not set {', '.join(reserved)}")
    if _depth(value) > EXTRA_BODY_MAX_DEPTH:
        raise ValidationError(f"extra_body may nest at most {EXTRA_BODY_MAX_DEPTH} levels")
    if len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > EXTRA_BODY_MAX_BYTES:
        raise ValidationError(f"extra_body may hold at most {EXTRA_BODY_MAX_BYTES} bytes of JSON")


class Campaign(models.Model):
    """Every product × template × model × variant, generated together under one budget."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        RUNNING = "running"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        FAILED = "failed"
        BUDGET_EXHAUSTED = "budget_exhausted"

    name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="campaigns")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns",
        help_text="shared with this team's members",
    )
    launched_by_token = models.ForeignKey(
        "ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    products = models.ManyToManyField(Product, related_name="campaigns")
    templates = models.ManyToManyField(PromptTemplate, related_name="campaigns")
    template_versions = models.ManyToManyField(
        TemplateVersion, related_name="campaigns", blank=True,
        help_text="the template texts pinned when the campaign was created",
    )
    llm_models = models.ManyToManyField(LLMModel, related_name="campaigns", verbose_name="models")
    variants = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(20)])
    languages = models.JSONField(
        default=list, blank=True,
        help_text="languages to write in, each multiplying the matrix; empty: each product's own language",
    )
    max_tokens = models.PositiveIntegerField(default=256, validators=[MinValueValidator(1), MaxValueValidator(32768)])
    temperature = models.FloatField(default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    budget_usd = models.DecimalField(**MONEY, default=Decimal("5"), validators=[MinValueValidator(Decimal(0))])
    # Money held for attempts in flight (worst case) and money spent; both move only
    # inside a transaction holding this row, so spent + reserved <= budget always.
    reserved_usd = models.DecimalField(**MONEY, default=Decimal(0))
    spent_usd = models.DecimalField(**MONEY, default=Decimal(0))
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    rewrites = models.PositiveSmallIntegerField(
        default=1, validators=[MaxValueValidator(3)],
        help_text="times a cell that fails its checks is generated again, with the reasons as feedback",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.RUNNING


class CampaignPrice(models.Model):
    """A model's prices as a campaign pinned them at launch: every attempt of the campaign
    is costed with these, whatever the model's prices become later."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="pinned_prices")
    model = models.ForeignKey(LLMModel, on_delete=models.PROTECT, related_name="+")
    input_usd_per_mtok = models.DecimalField(**PRICE)
    cached_input_usd_per_mtok = models.DecimalField(**PRICE, null=True, blank=True)
    cache_write_usd_per_mtok = models.DecimalField(**PRICE, null=True, blank=True)
    output_usd_per_mtok = models.DecimalField(**PRICE)
    price_source = models.CharField(max_length=60, blank=True)
    pinned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign_id", "model_id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "model"], name="uniq_campaign_price")]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.model_id} ${self.input_usd_per_mtok}/${self.output_usd_per_mtok}"


class Prompt(models.Model):
    """The chat messages of a campaign's cells, rendered at launch and stored once.

    Cells that differ only by model or variant send the same prompt: a campaign stores
    one row per distinct prompt (``digest`` is the SHA-256 of the messages as canonical
    JSON), not one per cell.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="prompts", db_index=False)
    digest = models.CharField(max_length=64)
    messages = models.JSONField(help_text="the chat messages rendered and pinned at launch")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "digest"], name="uniq_prompt_per_campaign")]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.digest[:12]}"


class Generation(models.Model):
    """One cell of a campaign: one product, template, model and variant."""

    # One definition shared with the engine and the browser (campaigns/engine/status.py).
    Status = models.TextChoices("Status", [(s.name, s.value) for s in GenerationStatus])  # type: ignore[misc]

    TERMINAL = TERMINAL_STATUSES

    class CostSource(models.TextChoices):
        REPORTED = "reported"
        ESTIMATED = "estimated"

    # No index of its own: uniq_generation_cell starts with campaign_id (every row update
    # writes every index, and the engine updates each generation twice).
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="generations", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey(PromptTemplate, on_delete=models.PROTECT, related_name="+")
    template_version = models.ForeignKey(
        TemplateVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    model = models.ForeignKey(LLMModel, on_delete=models.PROTECT, related_name="+")
    served_by = models.ForeignKey(
        LLMModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="the model that produced the text (the fallback, if it was used)",
    )
    variant = models.PositiveIntegerField(default=1)
    language = models.CharField(max_length=35, blank=True)
    prompt = models.ForeignKey(
        Prompt, on_delete=models.CASCADE, related_name="+", help_text="the chat messages sent, shared by its twins"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)  # gen_claim_idx leads with it
    text = models.TextField(blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    tokens_cached = models.PositiveIntegerField(default=0, help_text="prompt tokens served from the provider's cache")
    tokens_cache_write = models.PositiveIntegerField(default=0, help_text="prompt tokens written to the cache")
    tokens_reasoning = models.PositiveIntegerField(default=0, help_text="completion tokens spent reasoning")
    cost_usd = models.DecimalField(**MONEY, default=Decimal(0))
    cost_source = models.CharField(max_length=10, choices=CostSource.choices, blank=True)
    reserved_usd = models.DecimalField(**MONEY, default=Decimal(0))
    quota_reservations = models.JSONField(
        default=dict, blank=True, help_text="money held on quota usages for the attempt in flight: {usage id: USD}"
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    response_id = models.CharField(max_length=200, blank=True)
    progress_bytes = models.PositiveIntegerField(
        default=0, help_text="UTF-8 bytes of text received, as of the last lease renewal"
    )
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Review
    rating = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    approved = models.BooleanField(default=False)
    approved_at = models.DateTimeField(null=True, blank=True)
    edited_text = models.TextField(blank=True, help_text="the reviewer's edit; the generated text is kept as is")
    # Copy checks: pinned at launch (terms rendered for the product, banned terms added).
    checks = models.JSONField(default=list, blank=True)
    checks_passed = models.BooleanField(null=True, blank=True, help_text="null while running")
    check_failures = models.JSONField(default=list, blank=True, help_text="the reasons the kept attempt failed")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "product", "template", "model", "variant", "language"], name="uniq_generation_cell"
            )
        ]
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="gen_claim_idx")]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.product_id}/{self.template_id}/{self.model_id}#{self.variant}"

    @property
    def final_text(self) -> str:
        return self.edited_text or self.text


class Attempt(models.Model):
    """One provider call of a generation; a generation's cost is the sum of its attempts'."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="attempt_set")
    number = models.PositiveIntegerField()
    model = models.ForeignKey(LLMModel, on_delete=models.PROTECT, related_name="+")
    engine = models.CharField(max_length=100, blank=True, help_text="the process that made the call")
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    tokens_cached = models.PositiveIntegerField(default=0)
    tokens_cache_write = models.PositiveIntegerField(default=0)
    tokens_reasoning = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(**MONEY, default=Decimal(0))
    cost_source = models.CharField(max_length=10, blank=True)
    rewrite = models.PositiveSmallIntegerField(default=0, help_text="0: the first writing; n: the n-th rewrite")
    text = models.TextField(blank=True, help_text="the copy this attempt wrote (checked attempts)")
    checks_passed = models.BooleanField(null=True, blank=True)
    check_results = models.JSONField(default=list, blank=True, help_text="[{kind, passed, reason?, note?}]")
    kept = models.BooleanField(default=False, help_text="the attempt whose copy the generation keeps")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["generation_id", "number"]
        constraints = [models.UniqueConstraint(fields=["generation", "number"], name="uniq_attempt_number")]

    def __str__(self) -> str:
        return f"{self.generation_id}#{self.number}"


class Quota(models.Model):
    """A spending limit in USD for a user, an API token, or everyone, per day, month or in total."""

    class Scope(models.TextChoices):
        USER = "user"
        TOKEN = "token"
        GLOBAL = "global"

    class Period(models.TextChoices):
        DAY = "day"
        MONTH = "month"
        TOTAL = "total"

    scope = models.CharField(max_length=10, choices=Scope.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    token = models.ForeignKey("ApiToken", null=True, blank=True, on_delete=models.CASCADE, related_name="quotas")
    period = models.CharField(max_length=10, choices=Period.choices, default=Period.MONTH)
    limit_usd = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal(0))])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scope", "id"]

    def __str__(self) -> str:
        who = {"user": lambda: f"user {self.user}", "token": lambda: f"token {self.token}", "global": lambda: "global"}
        return f"{who[self.scope]()} ({self.period}) ${self.limit_usd:.2f}"

    def clean(self) -> None:
        if self.scope == self.Scope.USER and not self.user_id:
            raise ValidationError({"user": "a user quota names its user"})
        if self.scope == self.Scope.TOKEN and not self.token_id:
            raise ValidationError({"token": "a token quota names its token"})


class QuotaUsage(models.Model):
    """Spend and reservations of one quota in one period (a day, a month, or all time)."""

    quota = models.ForeignKey(Quota, on_delete=models.CASCADE, related_name="usages")
    period_start = models.DateTimeField()
    spent_usd = models.DecimalField(**MONEY, default=Decimal(0))
    reserved_usd = models.DecimalField(**MONEY, default=Decimal(0))
    warned_pct = models.PositiveSmallIntegerField(default=0, help_text="the last warning level sent: 80, 95 or 100")

    class Meta:
        ordering = ["-period_start"]
        constraints = [models.UniqueConstraint(fields=["quota", "period_start"], name="uniq_quota_period")]

    def __str__(self) -> str:
        return f"{self.quota} from {self.period_start:%Y-%m-%d}"


class ApiToken(models.Model):
    """A bearer token for the REST API, stored as a SHA-256 hash; shown once at creation."""

    class Scope(models.TextChoices):
        READ = "read"
        WRITE = "write"
        LAUNCH = "launch"
        ADMIN = "admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="public lookup part of the token")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    DEFAULT_RATE_LIMIT = 600
    MAX_RATE_LIMIT = 100_000
    rate_limit_per_minute = models.PositiveIntegerField(
        default=DEFAULT_RATE_LIMIT,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RATE_LIMIT)],
        help_text="API requests per minute; over it: 429 with Retry-After",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"cgk_{self.prefix}… ({self.user})"


class IdempotencyKey(models.Model):
    """The stored response of a POST made with an ``Idempotency-Key`` header, replayed on retries."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="uniq_idempotency_key_per_user")]

    def __str__(self) -> str:
        return f"{self.key} ({self.method} {self.path})"


class WebhookDelivery(models.Model):
    """A quota warning to POST to the webhook: written with the spend that raised it (an
    outbox), delivered apart from the live events, retried with backoff a bounded number of times."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    url = models.URLField(max_length=2000)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(help_text="when it is due (again); while a POST is under way, its lease")
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_due")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"webhook {self.id} ({self.status}, {self.attempts} attempts)"
