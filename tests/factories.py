"""factory_boy factories for the suite."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from campaigns.models import LLMModel, Product, PromptTemplate, Provider


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"marketer{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_password(extracted or "pass-word-123")
        if create:
            self.save(update_fields=["password"])


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider

    name = factory.Sequence(lambda n: f"provider-{n}")
    base_url = "http://127.0.0.1:9/v1"
    api_key = "sk-test-key-1234"
    api_key_hint = "1234"
    max_concurrency = 32
    timeout = 10.0


class LLMModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LLMModel

    provider = factory.SubFactory(ProviderFactory)
    name = factory.Sequence(lambda n: f"sim-model-{n}@ttft=5,gap=1,len=12,jitter=0")
    input_usd_per_mtok = Decimal("0.150000")
    output_usd_per_mtok = Decimal("0.600000")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    description = "A sturdy everyday thing."
    attributes = factory.LazyFunction(lambda: {"color": "blue", "material": "cotton"})
    language = "en"


class PromptTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PromptTemplate

    name = factory.Sequence(lambda n: f"Template {n}")
    system_prompt = "You write concise marketing copy in {{ language }}."
    body = "Write a tagline for {{ product.name }}: {{ product.description }} Color: {{ product.attributes.color }}."
