"""The admin site: providers (keys shown only as a hint), prices, campaigns with spend."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet, Sum
from django.http import HttpRequest

from campaigns.engine.checks import PRESETS
from campaigns.forms import AttributesField as AttributesFormField
from campaigns.models import (
    ApiToken,
    Attempt,
    AttributesField,
    BannedTerm,
    Campaign,
    CampaignPrice,
    Generation,
    LLMModel,
    Product,
    PromptTemplate,
    Provider,
    Quota,
    QuotaUsage,
    Team,
    validate_api_key,
)
from campaigns.providers.base import OPENAI, TRITON_GRPC
from campaigns.services.providers import provider_key_needed


class ProviderForm(forms.ModelForm):  # type: ignore[type-arg]
    """A provider; the key is write-only, and moving ``base_url`` to another host needs it again.

    Changing the scheme, host or port of ``base_url`` with the key left empty is refused on
    the ``api_key`` field (the stored key was given for the old host and is never sent to the
    new one): enter the new host's key, or tick "remove the stored key" for a host without one.
    """

    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        validators=[validate_api_key],
        help_text="Leave empty to keep the current key (on the same host only). Stored encrypted; only the last 4 "
        "characters are shown.",
    )
    clear_api_key = forms.BooleanField(
        required=False, label="Remove the stored key", help_text="for a host that takes no key"
    )

    class Meta:
        model = Provider
        fields = ["name", "base_url", "api_key", "max_concurrency", "rpm_limit", "tpm_limit", "timeout", "max_retries"]
        fields += ["kind"]  # billing: how usage is read and prices looked up
        fields += ["protocol", "target", "tls", "ca_bundle"]  # how it is called: openai (base_url) or triton-grpc

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["api_key"] = ""
        self.fields["kind"].required = False  # billing: a form without it keeps the provider's kind
        self.fields["protocol"].required = False  # a form without it keeps the default, openai

    def clean_kind(self) -> str:
        return str(self.cleaned_data.get("kind") or self.instance.kind or Provider.Kind.OTHER)

    def clean_protocol(self) -> str:
        return str(self.cleaned_data.get("protocol") or OPENAI)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()
        new_key, clear = cleaned.get("api_key"), cleaned.get("clear_api_key")
        if new_key and clear:
            self.add_error("clear_api_key", "enter a new key or remove the stored one, not both")
        elif not new_key and not clear and (cleaned.get("base_url") or cleaned.get("target")):
            reason = provider_key_needed(
                provider_id=self.instance.pk, base_url=cleaned.get("base_url") or "",
                protocol=cleaned.get("protocol") or "openai", target=cleaned.get("target") or "",
                tls=bool(cleaned.get("tls")),
            )
            if reason:
                self.add_error("api_key", reason.removeprefix("api_key: ") + "; or tick “Remove the stored key”")
        return cleaned

    def save(self, commit: bool = True) -> Provider:
        provider: Provider = super().save(commit=False)
        new_key = self.cleaned_data.get("api_key")
        if new_key or self.cleaned_data.get("clear_api_key"):
            provider.set_api_key(new_key or "")
        elif provider.pk:
            # Keep the stored key: the form never shows (or round-trips) it.
            provider.api_key = Provider.objects.get(pk=provider.pk).api_key
        if commit:
            provider.save()
        return provider


class LLMModelInline(admin.TabularInline):  # type: ignore[type-arg]
    model = LLMModel
    extra = 0
    fields = ["name", "label", "input_usd_per_mtok", "output_usd_per_mtok", "is_active",
              "preset", "prompt_format"]  # triton-grpc models


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ProviderForm
    list_display = ["name", "kind", "protocol", "endpoint", "key", "max_concurrency", "rpm_limit", "tpm_limit",
                    "timeout", "breaker"]
    list_filter = ["protocol", "kind"]
    search_fields = ["name", "base_url", "target"]
    readonly_fields = ["breaker_state", "breaker_changed_at"]
    inlines = [LLMModelInline]
    actions = ["test_connection"]

    @admin.action(description="Test connection (openai: list models with the key; triton-grpc: server and models ready)")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        from campaigns.services.providers import provider_test_connection

        for provider in queryset:
            result = provider_test_connection(provider)
            level = messages.SUCCESS if result.status == "ok" else messages.ERROR
            self.message_user(request, f"{result.status}: {result.detail}", level)

    @admin.display(description="circuit breaker")
    def breaker(self, obj: Provider) -> str:
        when = f" since {obj.breaker_changed_at:%Y-%m-%d %H:%M:%S}" if obj.breaker_changed_at else ""
        return f"{obj.breaker_state}{when}"

    @admin.display(description="endpoint")
    def endpoint(self, obj: Provider) -> str:
        if obj.protocol == TRITON_GRPC:
            return f"{'grpcs' if obj.tls else 'grpc'}://{obj.target}"
        return obj.base_url

    @admin.display(description="API key")
    def key(self, obj: Provider) -> str:
        return f"…{obj.api_key_hint}" if obj.api_key_hint else "—"


class LLMModelForm(forms.ModelForm):  # type: ignore[type-arg]
    """A new model's prices may be left empty: the price catalog fills them when it knows the model."""

    class Meta:
        model = LLMModel
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            for name in ("input_usd_per_mtok", "output_usd_per_mtok"):
                self.fields[name].required = False
                self.fields[name].help_text = "leave empty to take the price catalog's"

    def clean(self) -> dict[str, Any]:
        from campaigns.services.errors import InvalidInput
        from campaigns.services.llm_models import llm_model_fill
        from campaigns.services.price_catalog import PRICE_FIELDS

        cleaned: dict[str, Any] = super().clean() or {}
        if self.instance.pk is not None or self.errors or not cleaned.get("provider"):
            return cleaned
        probe = LLMModel(**{k: v for k, v in cleaned.items() if k in {f.name for f in LLMModel._meta.fields}})
        try:
            llm_model_fill(probe, given=set(self.changed_data))
        except InvalidInput as exc:
            self.add_error(exc.field, exc.message)
            return cleaned
        for name in (*PRICE_FIELDS, "token_limit_param", "send_temperature"):
            cleaned[name] = getattr(probe, name)
        self.instance.price_source, self.instance.price_updated_at = probe.price_source, probe.price_updated_at
        return cleaned


@admin.register(LLMModel)
class LLMModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = LLMModelForm
    list_display = ["__str__", "name", "provider", "input_usd_per_mtok", "cached_input_usd_per_mtok",
                    "output_usd_per_mtok", "price_source", "fallback", "is_active", "preset", "prompt_format"]
    list_filter = ["provider", "is_active", "price_source", "preset"]
    search_fields = ["name", "label"]
    list_editable = ["input_usd_per_mtok", "output_usd_per_mtok", "is_active"]
    readonly_fields = ["price_source", "price_updated_at"]
    actions = ["sync_prices"]

    def save_model(self, request: HttpRequest, obj: LLMModel, form: Any, change: bool) -> None:
        from django.utils import timezone

        from campaigns.services.price_catalog import PRICE_FIELDS

        if change and any(name in form.changed_data for name in PRICE_FIELDS):
            obj.price_source, obj.price_updated_at = "manual", timezone.now()
        super().save_model(request, obj, form, change)

    @admin.action(description="Set prices from the price catalog")
    def sync_prices(self, request: HttpRequest, queryset: QuerySet[LLMModel]) -> None:
        from campaigns.services.price_catalog import prices_sync

        ids = list(queryset.values_list("id", flat=True))
        changes = prices_sync(apply=True, model_ids=ids)
        changed = [c for c in changes if c.changed]
        unknown = len(ids) - len(changes)
        self.message_user(
            request,
            f"{len(changed)} model(s) repriced from the catalog, {len(changes) - len(changed)} already matched it, "
            f"{unknown} unknown to it (kept their manual prices). Running campaigns keep their pinned prices.",
        )


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    formfield_overrides = {AttributesField: {"form_class": AttributesFormField}}  # bounded before decoding
    list_display = ["name", "language", "owner", "updated_at"]
    list_filter = ["language"]
    search_fields = ["name", "description"]


class PromptTemplateForm(forms.ModelForm):  # type: ignore[type-arg]
    preset = forms.ChoiceField(
        required=False, choices=[("", "—"), *[(name, name.replace("_", " ")) for name in PRESETS]],
        help_text="a channel preset: its checks are put before those listed in checks",
    )

    class Meta:
        model = PromptTemplate
        fields = ["name", "system_prompt", "body", "checks", "owner"]

    def clean(self) -> dict[str, Any]:
        from django.core.exceptions import ValidationError

        from campaigns.services.checks import checks_from_input
        from campaigns.services.errors import InvalidInput

        data = super().clean()
        if data.get("preset"):
            try:
                data["checks"] = checks_from_input(data.get("checks") or [], data["preset"])
            except InvalidInput as exc:
                raise ValidationError({"checks": exc.message}) from exc
            self.instance.checks = data["checks"]
        return data


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = PromptTemplateForm
    list_display = ["name", "checks_count", "owner", "needs_attention", "updated_at"]
    list_filter = ["needs_attention"]
    search_fields = ["name", "body"]
    readonly_fields = ["needs_attention", "attention_reason"]

    @admin.display(description="checks")
    def checks_count(self, obj: PromptTemplate) -> int:
        return len(obj.checks or [])


@admin.register(BannedTerm)
class BannedTermAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Terms no copy may contain: every campaign launched after a change checks for them."""

    list_display = ["term", "note", "created_at"]
    search_fields = ["term", "note"]


class AttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Attempt
    extra = 0
    can_delete = False
    max_num = 0
    fields = ["number", "rewrite", "model", "engine", "status_code", "error", "duration_ms", "ttft_ms", "tokens_in",
              "tokens_out", "tokens_cached", "tokens_cache_write", "tokens_reasoning", "cost_usd", "cost_source",
              "text", "checks_passed", "check_results", "kept"]
    readonly_fields = fields


class GenerationInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Generation
    extra = 0
    can_delete = False
    show_change_link = True
    max_num = 0
    fields = ["product", "template", "model", "variant", "status", "checks_passed", "tokens_in", "tokens_out",
              "tokens_cached", "tokens_reasoning", "cost_usd", "cost_source", "ttft_ms", "latency_ms", "attempts",
              "error"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Generation]:
        return super().get_queryset(request).select_related("product", "template", "model")


class CampaignPriceInline(admin.TabularInline):  # type: ignore[type-arg]
    model = CampaignPrice
    verbose_name_plural = "prices pinned at launch (USD per million tokens)"
    extra = 0
    can_delete = False
    max_num = 0
    fields = ["model", "input_usd_per_mtok", "cached_input_usd_per_mtok", "cache_write_usd_per_mtok",
              "output_usd_per_mtok", "price_source", "pinned_at"]
    readonly_fields = fields


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "owner", "status", "cells", "spend", "budget_usd", "created_at"]
    list_filter = ["status", "owner"]
    search_fields = ["name"]
    readonly_fields = ["status", "spent_usd", "reserved_usd", "cache", "launched_at", "finished_at", "created_at"]
    filter_horizontal = ["products", "templates", "llm_models"]
    inlines = [CampaignPriceInline, GenerationInline]

    @admin.display(description="prompt cache")
    def cache(self, obj: Campaign) -> str:
        from campaigns.services.selectors import campaign_stats

        if obj.pk is None:
            return "—"
        stats = campaign_stats(obj)
        ratio = stats["cache_hit_ratio"]
        return (
            f"{stats['tokens_cached']} of {stats['tokens_in']} prompt tokens cached"
            f" ({ratio:.1%}), saved ${stats['cache_savings_usd']}; {stats['tokens_reasoning']} reasoning tokens"
            if ratio is not None
            else "no usage yet"
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        from django.db.models import Count

        return super().get_queryset(request).annotate(
            _cells=Count("generations", distinct=True), _spend=Sum("generations__cost_usd")
        )

    @admin.display(description="cells", ordering="_cells")
    def cells(self, obj: Any) -> int:
        return int(obj._cells)

    @admin.display(description="spend (USD)", ordering="_spend")
    def spend(self, obj: Any) -> str:
        return f"{obj._spend or 0:.6f}"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        total = Generation.objects.aggregate(s=Sum("cost_usd"))["s"] or 0
        extra_context = {**(extra_context or {}), "title": f"Campaigns — total spend ${total:.6f}"}
        return super().changelist_view(request, extra_context)


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "campaign", "product", "template", "model", "variant", "status", "checks_passed",
                    "cost_usd", "cost_source", "ttft_ms", "latency_ms", "attempts"]
    list_filter = ["status", "checks_passed", "cost_source", "model", "campaign"]
    search_fields = ["text", "error"]
    list_select_related = ["campaign", "product", "template", "model"]
    readonly_fields = [f.name for f in Generation._meta.fields]
    inlines = [AttemptInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["__str__", "name", "user", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    exclude = ["token_hash"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are created with `manage.py create_api_token` or the API: shown once

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        from django.utils import timezone

        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).")


class QuotaUsageInline(admin.TabularInline):  # type: ignore[type-arg]
    model = QuotaUsage
    extra = 0
    can_delete = False
    max_num = 0
    fields = ["period_start", "spent_usd", "reserved_usd", "warned_pct"]
    readonly_fields = fields


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["__str__", "scope", "user", "token", "period", "limit_usd", "used", "is_active"]
    list_filter = ["scope", "period", "is_active"]
    inlines = [QuotaUsageInline]

    @admin.display(description="used this period")
    def used(self, obj: Quota) -> str:
        from django.utils import timezone

        from campaigns.services.budgets import quota_period

        start, _ = quota_period(obj.period, timezone.now())
        usage = obj.usages.filter(period_start=start).first()
        spent = usage.spent_usd if usage else 0
        pct = (spent * 100 / obj.limit_usd) if obj.limit_usd else 0
        return f"${spent:.4f} ({pct:.0f}%)"


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name"]
    filter_horizontal = ["members"]
