from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import PromptTemplate
from campaigns.templating import render_template, template_variables, validate_template_source

PRODUCT = {"name": "Lamp", "description": "Bright.", "attributes": {"color": "red"}, "language": "en"}


def test_renders_product_fields_attributes_and_language() -> None:
    out = render_template(
        "{{ product.name }} ({{ product.attributes.color }}) in {{ language }}: {{ product.description }}",
        product=PRODUCT,
        language="fr",
    )
    assert out == "Lamp (red) in fr: Bright."


def test_no_html_escaping_in_prompts() -> None:
    assert render_template("{{ product.name }}", product={**PRODUCT, "name": "Tom & Jerry <3"}, language="en") == (
        "Tom & Jerry <3"
    )


def test_loop_variables_are_not_unknown() -> None:
    source = "{% for k, v in product.attributes.items %}{{ k }}={{ v }} {% endfor %}{% with n=product.name %}{{ n }}{% endwith %}"
    validate_template_source(source)
    assert template_variables(source) == ["product.attributes.items", "product.name"]


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("{{ price }}", "price"),
        ("{{ product.price }}", "product.price"),
        ("{% if product.colour %}x{% endif %}", "product.colour"),
        ("{{ product.name|default:fallback }}", "fallback"),
        ("{{ language.code }}", "language.code"),
    ],
)
def test_unknown_variables_are_named(source: str, named: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_template_source(source)
    assert f"'{named}'" in err.value.messages[0]


def test_syntax_errors_are_reported() -> None:
    with pytest.raises(ValidationError, match="syntax"):
        validate_template_source("{% if product.name %}unclosed")


@pytest.mark.django_db
def test_a_template_with_an_unknown_variable_is_never_saved() -> None:
    with pytest.raises(ValidationError) as err:
        PromptTemplate.objects.create(name="bad", body="Hi {{ product.price }}")
    assert "body" in err.value.message_dict
    assert not PromptTemplate.objects.exists()
