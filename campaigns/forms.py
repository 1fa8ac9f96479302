"""Forms of the marketer UI: they parse and validate input; services do the work."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from campaigns.engine.checks import PRESETS
from campaigns.models import Campaign, Generation, LLMModel, Product, PromptTemplate, Team
from campaigns.services.imports import MAX_FILE_BYTES
from campaigns.services.products import MAX_ATTRIBUTES_BYTES, MAX_ATTRIBUTES_DEPTH, json_too_deep
from campaigns.services.studio.review_board import RATING_CHOICES

__all__ = [
    "SERVICE_FIELDS",
    "CampaignEstimateForm",
    "CampaignForm",
    "ProductForm",
    "ProductImportForm",
    "PromptTemplateForm",
    "ReviewFilterForm",
    "ReviewForm",
    "usd",
    "usd_short",
]

ATTRIBUTES_HELP = 'A JSON object, e.g. {"color": "forest green", "weight": "260 g"}.'
ATTRIBUTES_ERROR = 'Attributes must be a JSON object, e.g. {"color": "blue"}.'
ATTRIBUTES_INVALID = "This is not valid JSON. " + ATTRIBUTES_ERROR

# Fields named by services.errors.InvalidInput, mapped to the form fields that carry them.
SERVICE_FIELDS = {"product_ids": "products", "template_ids": "templates", "model_ids": "models"}


class AttributesField(forms.JSONField):
    """A JSON object in a textarea, shown indented; empty means ``{}``.

    What the object may hold is checked by the product rules (``Product.clean``); this
    field only bounds the text before decoding it, so no input can exhaust the stack.
    """

    default_error_messages = {"invalid": ATTRIBUTES_INVALID}

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)

    def bound_data(self, data: Any, initial: Any) -> Any:
        """A submitted form shows the text as typed (never re-encodes what it refused)."""
        if self.disabled or data is None:
            return super().bound_data(data, initial)
        return forms.fields.InvalidJSONInput(data)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > 4 * MAX_ATTRIBUTES_BYTES:
            raise forms.ValidationError(f"Attributes must be at most {MAX_ATTRIBUTES_BYTES} bytes of JSON.", code="too_large")
        if isinstance(value, str) and json_too_deep(value, MAX_ATTRIBUTES_DEPTH):
            raise forms.ValidationError(
                f"Attributes must be nested at most {MAX_ATTRIBUTES_DEPTH} levels deep.", code="too_deep"
            )
        value = super().to_python(value)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError(ATTRIBUTES_ERROR, code="not_an_object")
        return value


class ProductForm(forms.ModelForm):
    attributes = AttributesField(
        required=False,
        help_text=ATTRIBUTES_HELP,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
    )

    class Meta:
        model = Product
        fields = ["name", "description", "attributes", "language"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "language": forms.TextInput(attrs={"placeholder": "en", "autocomplete": "off"}),
        }
        help_texts = {"language": "A language code or name, rendered as {{ language }}."}


CHECKS_HELP = (
    'A JSON list, e.g. [{"kind": "max_chars", "value": 30, "counting": "google_ads"}, '
    '{"kind": "must_include", "terms": ["{{ product.name }}"]}, {"kind": "language"}]. '
    "Kinds: max_chars, min_chars, max_words, min_words, max_lines, sms, must_include, must_not_include, "
    "regex, language, format."
)


class ChecksField(forms.JSONField):
    """A checks list shown one check per line."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list) and value and not isinstance(value, forms.fields.InvalidJSONInput):
            lines = ",\n".join("  " + json.dumps(check, ensure_ascii=False) for check in value)
            return f"[\n{lines}\n]"
        return super().prepare_value(value)


class PromptTemplateForm(forms.ModelForm):
    """Unknown variables and syntax errors come back from ``PromptTemplate.clean`` per field."""

    preset = forms.ChoiceField(
        label="Channel preset",
        required=False,
        choices=[("", "None"), *[(name, name.replace("_", " ").capitalize()) for name in PRESETS]],
        help_text="Adds the channel's checks (its length rule and format) before those listed below.",
    )

    class Meta:
        model = PromptTemplate
        fields = ["name", "system_prompt", "body", "preset", "checks"]
        labels = {"checks": "Checks"}
        help_texts = {"checks": CHECKS_HELP}
        field_classes = {"checks": ChecksField}
        widgets = {
            "system_prompt": forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "mono"}),
            "body": forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "class": "mono"}),
            "checks": forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["checks"].required = False

    def clean_checks(self) -> Any:
        checks = self.cleaned_data.get("checks")
        return [] if checks in (None, "") else checks

    def clean(self) -> dict[str, Any]:
        from campaigns.services.checks import checks_from_input
        from campaigns.services.errors import InvalidInput

        data = super().clean()
        preset = data.get("preset")
        if preset and "checks" in data:
            try:
                data["checks"] = checks_from_input(data["checks"], preset)
            except InvalidInput as exc:
                self.add_error("checks", exc.message)
            else:
                self.instance.checks = data["checks"]
        return data


class ProductChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.language})" if obj.language else obj.name


class ModelChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return (
            f"{obj.label or obj.name} · {obj.provider.name} · "
            f"${usd_short(obj.input_usd_per_mtok)} in / ${usd_short(obj.output_usd_per_mtok)} out per Mtok"
        )


def usd(value: Decimal | str | None, places: int = 6) -> str:
    """Money for display, rounded half up: ``usd("0.00123450")`` is ``"0.001235"``."""
    amount = Decimal(str(value or 0)).quantize(Decimal(10) ** -places, rounding=ROUND_HALF_UP)
    return f"{amount:f}"


def usd_short(value: Decimal | str | None) -> str:
    """A budget or price: at least two decimals, no trailing zeros beyond them."""
    whole, _, frac = f"{Decimal(str(value or 0)).normalize():f}".partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    products = ProductChoiceField(queryset=Product.objects.all(), widget=forms.CheckboxSelectMultiple)
    templates = forms.ModelMultipleChoiceField(
        queryset=PromptTemplate.objects.all(), widget=forms.CheckboxSelectMultiple
    )
    models = ModelChoiceField(
        queryset=LLMModel.objects.filter(is_active=True).select_related("provider"),
        widget=forms.CheckboxSelectMultiple,
    )
    variants = forms.IntegerField(
        initial=1, min_value=1, max_value=20, help_text="Outputs per product, template and model (1–20)."
    )
    languages = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Optional, comma-separated (e.g. en, de, ja); each one multiplies the cells. "
        "Empty: each product's own language.",
        widget=forms.TextInput(attrs={"placeholder": "each product's own language", "autocomplete": "off"}),
    )
    max_tokens = forms.IntegerField(initial=256, min_value=1, max_value=32768)
    temperature = forms.FloatField(
        initial=0.7,
        validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
        widget=forms.NumberInput(attrs={"step": "0.1", "min": "0", "max": "2"}),
    )
    rewrites = forms.IntegerField(
        initial=1, min_value=0, max_value=3, required=False,
        help_text="Times a cell whose copy fails its template's checks is written again, with the reasons (0–3); "
        "each rewrite is billed.",
    )
    budget_usd = forms.DecimalField(
        label="Budget (USD)",
        initial=Decimal("5"),
        min_value=Decimal(0),
        max_digits=20,
        decimal_places=10,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0"}),
        help_text="Generation stops before spending more than this.",
    )

    team = forms.ModelChoiceField(
        label="Share with team",
        queryset=Team.objects.none(),
        required=False,
        empty_label="Nobody (only you)",
        help_text="Its members can watch the campaign and review its copy.",
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team = self.fields["team"]
        if user is None or not user.is_authenticated:
            del self.fields["team"]
        else:
            team.queryset = Team.objects.all() if user.is_staff else user.copygen_teams.all()

    def clean_languages(self) -> list[str]:
        return [part.strip() for part in self.cleaned_data["languages"].split(",") if part.strip()]

    def service_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``services.launch.campaign_create`` (owner aside)."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "product_ids": [p.id for p in data["products"]],
            "template_ids": [t.id for t in data["templates"]],
            "model_ids": [m.id for m in data["models"]],
            "variants": data["variants"],
            "languages": data["languages"],
            "max_tokens": data["max_tokens"],
            "temperature": data["temperature"],
            "budget_usd": data["budget_usd"],
            "rewrites": data["rewrites"] if data.get("rewrites") is not None else 1,
        }

    def add_service_error(self, field: str, message: str) -> None:
        """Show an ``InvalidInput`` on the form field it names, else on the form."""
        name = SERVICE_FIELDS.get(field, field)
        if name not in self.fields:
            self.add_error(None, message)
            return
        # The service names the field in its message; next to the field that is redundant.
        self.add_error(name, message.removeprefix(f"{field}: "))


class CampaignEstimateForm(CampaignForm):
    """The new campaign form while it is being filled in: no name needed yet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].required = False


class ProductImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="A Shopify product export, or a sheet with a name column "
        "(and description, language, attributes; other columns become attributes).",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    language = forms.CharField(
        label="Default language",
        max_length=35,
        initial="en",
        help_text="For rows that do not name a language.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
        return upload


YES_NO = [("", "Any"), ("yes", "Approved"), ("no", "Not approved")]
CHECKS_CHOICES = [("", "Any"), ("pass", "Passing"), ("fail", "Failing")]


class ReviewFilterForm(forms.Form):
    """The filters of the review page (GET); invalid values are simply ignored."""

    product = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    model = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(required=False)
    rating = forms.ChoiceField(required=False)
    approved = forms.ChoiceField(required=False, choices=YES_NO)
    checks = forms.ChoiceField(required=False, choices=CHECKS_CHOICES, label="Checks")

    def __init__(self, *args: Any, campaign: Campaign, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields = self.fields
        fields["product"].choices = [("", "All products")] + [(p.id, p.name) for p in campaign.products.all()]
        models = campaign.llm_models.order_by("id")
        fields["model"].choices = [("", "All models")] + [(m.id, m.label or m.name) for m in models]
        fields["status"].choices = [("", "Any status")] + [(s, s) for s in Generation.Status.values]
        ratings = [
            (r, "Unrated" if r == "unrated" else f"{r}+ stars" if r != "5" else "5 stars") for r in RATING_CHOICES
        ]
        fields["rating"].choices = [("", "Any rating"), *ratings]

    def filters(self) -> dict[str, Any]:
        """The valid filters, as ``services.studio.review_board.generations_filter`` takes them."""
        if not self.is_valid():
            data = {name: self.cleaned_data.get(name) for name in self.fields if name not in self.errors}
        else:
            data = dict(self.cleaned_data)
        approved = data.get("approved")
        data["approved"] = {"yes": True, "no": False}.get(approved or "")
        data["checks_passed"] = {"pass": True, "fail": False}.get(data.pop("checks", None) or "")
        return data

    @property
    def active(self) -> bool:
        return any(v not in (None, "") for v in self.filters().values())


class ReviewForm(forms.Form):
    """A reviewer's change to one generation; fields left out of the POST stay as they are."""

    rating = forms.TypedChoiceField(
        required=False, choices=[("", "none")] + [(str(n), n) for n in range(1, 6)], coerce=int, empty_value=None
    )
    approved = forms.TypedChoiceField(
        required=False, choices=[("true", "yes"), ("false", "no")], coerce=lambda v: v == "true"
    )
    edited_text = forms.CharField(required=False, strip=False, max_length=100_000)
    revert = forms.BooleanField(required=False)

    def service_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``services.review.generation_review`` for the fields sent."""
        sent = self.data
        kwargs: dict[str, Any] = {}
        if "rating" in sent:
            kwargs["rating"] = self.cleaned_data["rating"]
        if "approved" in sent:
            kwargs["approved"] = self.cleaned_data["approved"]
        if self.cleaned_data["revert"]:
            kwargs["edited_text"] = ""
        elif "edited_text" in sent:
            kwargs["edited_text"] = self.cleaned_data["edited_text"]
        return kwargs
