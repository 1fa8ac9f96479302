"""Prompt templates in Liquid: what renders, what is refused when saved, and with which message."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from campaigns.models import PromptTemplate
from campaigns.templating import TemplateRenderError, render_template, template_variables, validate_template_source

PRODUCT = {
    "name": "Lamp",
    "description": "Bright.",
    "attributes": {"color": "red", "sizes": ["S", "M"], "specs": {"power": "9 W"}},
    "language": "en",
}


def render(source: str, **product: object) -> str:
    return render_template(source, product={**PRODUCT, **product}, language="fr")


def test_renders_product_fields_attributes_and_language() -> None:
    out = render("{{ product.name }} ({{ product.attributes.color }}) in {{ language }}: {{ product.description }}")
    assert out == "Lamp (red) in fr: Bright."


def test_no_html_escaping_in_prompts() -> None:
    assert render("{{ product.name }}", name="Tom & Jerry <3") == "Tom & Jerry <3"


def test_tags_and_filters_a_prompt_needs() -> None:
    source = (
        "{% for attribute in product.attributes %}{{ attribute[0] }};{% endfor %}"
        "{{ product.attributes.sizes | join: '/' }} {{ product.attributes.specs.power }} "
        "{% if product.attributes.color == 'red' %}warm{% elsif language == 'fr' %}fr{% else %}cold{% endif %} "
        "{% assign shout = product.name | upcase %}{{ shout }} {{ product.description | truncate: 5 }} "
        "{% case language %}{% when 'fr' %}FR{% else %}other{% endcase %} {{ product.attributes | json }}"
    )
    validate_template_source(source)
    assert render(source) == (
        'color;sizes;specs;S/M 9 W warm LAMP Br... FR {"color": "red", "sizes": ["S", "M"], "specs": {"power": "9 W"}}'
    )


def test_a_missing_attribute_is_false_in_if_and_gives_way_to_default() -> None:
    source = "{% if product.attributes.finish %}x{% else %}none{% endif %} {{ product.attributes.finish | default: 'plain' }}"
    assert render(source) == "none plain"


def test_printing_a_missing_attribute_is_an_error_naming_it_the_template_and_the_product() -> None:
    with pytest.raises(TemplateRenderError) as err:
        render_template("Hi\n{{ product.attributes.finish }}", product=PRODUCT, language="en", name="Tagline")
    message = err.value.messages[0]
    assert "template 'Tagline'" in message and "'Lamp'" in message
    assert "product.attributes.finish is undefined" in message and "line 2" in message


def test_template_variables_are_the_free_ones_in_order() -> None:
    source = (
        "{% for s in product.attributes.sizes %}{{ s }}{{ forloop.index }}{% endfor %}"
        "{% assign n = product.name %}{{ n }}{{ language }}"
    )
    validate_template_source(source)
    assert template_variables(source) == ["product.attributes.sizes", "product.name", "language"]


@pytest.mark.parametrize(
    ("source", "named", "where"),
    [
        ("{{ price }}", "'price'", "line 1, column 4"),
        ("Hello\n  {{ product.price }}", "'product.price'", "line 2, column 6"),
        ("{% if product.colour %}x{% endif %}", "'product.colour'", "line 1, column 7"),
        ("{{ product.name | default: fallback }}", "'fallback'", "line 1, column 28"),
        ("{{ language.code }}", "'language.code'", "line 1, column 4"),
        ("{{ product.name.upper }}", "'product.name.upper'", "line 1, column 4"),
        ("{{ n }}{% assign n = product.name %}", "'n'", "line 1, column 4"),
        ("{{ partial }}", "'partial'", "line 1, column 4"),
    ],
)
def test_unknown_variables_are_named_with_line_and_column(source: str, named: str, where: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_template_source(source)
    message = err.value.messages[0]
    assert f"unknown variable {named}" in message and where in message


@pytest.mark.parametrize("name", ["date", "base64_decode", "url_encode", "escapejs", "strip_html", "nope"])
def test_filters_a_prompt_does_not_need_are_unknown(name: str) -> None:
    with pytest.raises(ValidationError, match=rf"unknown filter '{name}' at line 2, column \d+"):
        validate_template_source("x\n{{ product.name | " + name + " }}")


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("{% if product.name %}unclosed", "line 1"),
        ("ok\n{{ product.name | }}", "line 2"),
        ("{% for %}{% endfor %}", "line 1"),
        ("ok\n\n{% endif %}", "line 3, column 4"),
        ("{{ product.name }", "line 1"),
    ],
)
def test_syntax_errors_are_reported_with_line_and_column(source: str, where: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_template_source(source)
    message = err.value.messages[0]
    assert "syntax error" in message and where in message


@pytest.mark.parametrize("tag", ["tablerow x in product.attributes.sizes", "cycle 'a', 'b'", "increment n", "ifchanged"])
def test_tags_a_prompt_does_not_need_are_syntax_errors(tag: str) -> None:
    with pytest.raises(ValidationError, match="unexpected tag"):
        validate_template_source("{% " + tag + " %}")


@override_settings(COPYGEN_MAX_TEMPLATE_CHARS=50)
def test_the_source_size_limit_is_a_named_setting() -> None:
    validate_template_source("x" * 50)
    with pytest.raises(ValidationError, match="COPYGEN_MAX_TEMPLATE_CHARS"):
        validate_template_source("x" * 51)


@override_settings(COPYGEN_MAX_PROMPT_CHARS=10)
def test_the_prompt_size_limit_is_a_named_setting() -> None:
    assert render("{{ product.name }}") == "Lamp"
    with pytest.raises(TemplateRenderError, match="COPYGEN_MAX_PROMPT_CHARS") as err:
        render_template("{{ product.description }} {{ product.description }}", product=PRODUCT, language="en", name="T")
    assert err.value.limit == "COPYGEN_MAX_PROMPT_CHARS"
    assert err.value.template == "T"


def test_render_errors_are_validation_errors() -> None:
    assert issubclass(TemplateRenderError, ValidationError)


@pytest.mark.django_db
def test_a_template_with_an_unknown_variable_is_never_saved() -> None:
    with pytest.raises(ValidationError) as err:
        PromptTemplate.objects.create(name="bad", body="Hi {{ product.price }}")
    assert "body" in err.value.message_dict
    assert not PromptTemplate.objects.exists()


@pytest.mark.django_db
def test_saving_a_fixed_template_clears_the_attention_mark() -> None:
    template = PromptTemplate.objects.create(name="t", body="{{ product.name }}")
    PromptTemplate.objects.filter(pk=template.pk).update(needs_attention=True, attention_reason="the tag {% url %}")
    template.refresh_from_db()
    template.body = "{{ product.name | upcase }}"
    template.save()
    template.refresh_from_db()
    assert (template.needs_attention, template.attention_reason) == (False, "")


# --- templates the move to Liquid could not convert ------------------------------------------------

REASON = "could not be converted to Liquid, kept as it was: body: the tag {% url %} has no Liquid equivalent in prompts"


@pytest.fixture
def marked(db: object) -> PromptTemplate:
    template = PromptTemplate.objects.create(name="Old one", body="{{ product.name }}")
    PromptTemplate.objects.filter(pk=template.pk).update(
        body="{% url 'x' %}", needs_attention=True, attention_reason=REASON
    )
    template.refresh_from_db()
    return template


def test_launch_refuses_a_marked_template_naming_it(
    marked: PromptTemplate, user: Any, make_token: Any, catalog: Any
) -> None:
    from tests.test_api import Api, assert_error
    from tests.view_support import make_campaign

    campaign = make_campaign(user, {**catalog, "templates": [marked]})
    api = Api(make_token(user, "read", "write", "launch"))
    body = assert_error(api.post(f"/campaigns/{campaign.pk}/launch"), 422, "template_ids", "'Old one'", "needs attention")
    assert "{% url %}" in body["detail"]
    assert not campaign.generations.exists()
    listed = api.get("/templates").json()["items"]
    assert {t["name"]: (t["needs_attention"], t["attention_reason"]) for t in listed}["Old one"] == (True, REASON)
    assert {t["needs_attention"] for t in listed if t["name"] != "Old one"} == {False}


def test_studio_and_admin_show_the_mark(marked: PromptTemplate, client: Any, staff_user: Any) -> None:
    from django.urls import reverse

    client.force_login(staff_user)
    listing = client.get(reverse("campaigns:template_list")).content.decode()
    assert 'data-testid="needs-attention"' in listing
    editor = client.get(reverse("campaigns:template_edit", args=[marked.pk])).content.decode()
    assert 'data-testid="template-attention"' in editor and "the tag {% url %}" in editor
    admin = client.get(reverse("admin:campaigns_prompttemplate_changelist") + "?needs_attention__exact=1")
    assert admin.status_code == 200 and "Old one" in admin.content.decode()
    hidden = client.get(reverse("admin:campaigns_prompttemplate_changelist") + "?needs_attention__exact=0")
    assert "Old one" not in hidden.content.decode()


def test_the_editor_saving_a_fixed_text_clears_the_mark(marked: PromptTemplate, client: Any, user: Any) -> None:
    from django.urls import reverse

    client.force_login(user)
    url = reverse("campaigns:template_edit", args=[marked.pk])
    refused = client.post(url, {"name": "Old one", "system_prompt": "", "body": marked.body})
    assert refused.status_code == 200 and "unexpected tag &#x27;url&#x27;" in refused.content.decode()
    client.post(url, {"name": "Old one", "system_prompt": "", "body": "{{ product.name }}"})
    marked.refresh_from_db()
    assert not marked.needs_attention and marked.attention_reason == ""
