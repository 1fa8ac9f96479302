from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, LLMModel, Product, PromptTemplate, Provider
from campaigns.providers.base import TRITON_GRPC
from campaigns.services.launch import campaign_create
from campaigns.services.providers import provider_save, url_host

PRODUCTS = [
    ("Trail Runner 2", "Lightweight trail running shoe with a grippy sole.", {"color": "forest green", "weight": "260 g"}, "en"),
    ("Aurora Desk Lamp", "Dimmable LED desk lamp with warm and cool light.", {"color": "matte black", "power": "9 W"}, "en"),
    ("Merino Travel Hoodie", "Odour-resistant merino hoodie that packs small.", {"material": "merino wool", "fit": "regular"}, "en"),
    ("Kyoto Tea Set", "Hand-glazed ceramic tea set for four.", {"pieces": "6", "glaze": "celadon"}, "ja"),
]
# A brand voice long enough for a provider's prompt cache: every cell sends it first, so all but
# the first request per model are served mostly from the cache (the campaign page shows the ratio).
BRAND_VOICE = (
    "You are the senior copywriter of an independent outdoor and home goods brand. Our voice is warm, "
    "direct and concrete: short sentences, active verbs, no superlatives we cannot prove, no exclamation "
    "marks, no clichés such as 'game-changer' or 'elevate'. Name one tangible benefit before any feature. "
    "Respect the reader's time and intelligence; never invent specifications that are not in the brief. "
)
TEMPLATES = [
    ("Tagline", BRAND_VOICE + "Answer in {{ language }}.",
     "Write a punchy tagline for {{ product.name }}. {{ product.description }}"),
    ("Product description", BRAND_VOICE + "You write clear, benefit-led product copy in {{ language }}.",
     "Write a 60-word product description for {{ product.name }}.\n"
     "Details: {{ product.description }}\n"
     "{% for attribute in product.attributes %}- {{ attribute[0] }}: {{ attribute[1] }}\n{% endfor %}"),
]
# A template whose copy must fit a Google Ads headline (30 characters, Google Ads width): every
# cell is checked as it finishes and rewritten once, with the reasons, when it does not fit.
CHECKED_TEMPLATES = [
    ("Ad headline", "You write Google Ads headlines in {{ language }}.",
     "Write one Google Ads headline for {{ product.name }}. {{ product.description }}",
     [{"kind": "max_chars", "value": 30, "counting": "google_ads", "stop_margin": 30}, {"kind": "format"},
      {"kind": "language"}]),
]
MODELS = [
    # (name sent to the simulator, label, input, cached input, output $/Mtok)
    ("sim-fast@ttft=120,gap=12,len=40", "Fast (simulated)", "0.150000", "0.075000", "0.600000"),
    ("sim-balanced@ttft=300,gap=25,len=56", "Balanced (simulated)", "1.000000", "0.100000", "4.000000"),
    ("sim-polyglot@ttft=200,gap=20,len=48,lang=ja,usage=deepseek", "Polyglot ja (simulated)", "0.500000",
     "0.050000", "2.000000"),
    # Writes too long on a first attempt and follows check feedback on a rewrite (the rewrite loop).
    ("sim-drafty@ttft=150,gap=15,len=10,first=long", "Drafty (simulated)", "0.150000", "0.075000", "0.600000"),
]
GRPC_MODELS = [
    # (Triton model name sent to the simulator's gRPC side, label, preset, prompt format, prices)
    ("sim-llama@ttft=120,gap=12,len=40", "Llama on Triton vLLM (simulated)", "vllm", "llama3", "0.200000", "0.800000"),
    ("sim-trtllm-ensemble@ttft=90,gap=10,len=40", "TensorRT-LLM ensemble (simulated)", "tensorrt_llm", "chatml",
     "0.100000", "0.400000"),
]


class Command(BaseCommand):
    help = "Create demo data: a login, products, templates, models on the bundled simulator and a draft campaign."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--simulator-url", default="http://127.0.0.1:8001/v1")
        parser.add_argument(
            "--simulator-grpc-target", default="",
            help="host:port of the simulator's gRPC side: adds a Triton gRPC provider and its models to the demo",
        )
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-pass-123")

    @transaction.atomic
    def handle(self, *args: Any, **opts: Any) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=opts["username"], defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(opts["password"])
            user.save()
        provider, _ = Provider.objects.get_or_create(
            name="Simulator", defaults={"base_url": opts["simulator_url"], "max_concurrency": 64}
        )
        if provider.base_url != opts["simulator_url"]:
            # A key belongs to its host: on another host the simulator gets the demo key, not the old one.
            moved = url_host(provider.base_url) != url_host(opts["simulator_url"])
            changes = {"base_url": opts["simulator_url"], **({"api_key": "sk-sim-demo-0000"} if moved else {})}
            provider_save(provider=provider, changes=changes)
        if not provider.api_key:
            provider.set_api_key("sk-sim-demo-0000")
            provider.save()
        models = [
            LLMModel.objects.get_or_create(
                provider=provider, name=name,
                defaults={
                    "label": label, "input_usd_per_mtok": Decimal(i), "cached_input_usd_per_mtok": Decimal(c),
                    "output_usd_per_mtok": Decimal(o), "price_updated_at": timezone.now(),
                },
            )[0]
            for name, label, i, c, o in MODELS
        ]
        grpc_models = self._grpc_models(opts["simulator_grpc_target"]) if opts["simulator_grpc_target"] else []
        products = [
            Product.objects.get_or_create(
                name=name, defaults={"description": d, "attributes": a, "language": lang, "owner": user}
            )[0]
            for name, d, a, lang in PRODUCTS
        ]
        templates = [
            PromptTemplate.objects.get_or_create(name=n, defaults={"system_prompt": s, "body": b, "owner": user})[0]
            for n, s, b in TEMPLATES
        ]
        for n, s, b, checks in CHECKED_TEMPLATES:
            PromptTemplate.objects.get_or_create(
                name=n, defaults={"system_prompt": s, "body": b, "checks": checks, "owner": user}
            )
        campaign = Campaign.objects.filter(name="Demo campaign", status=Campaign.Status.DRAFT).first()
        if campaign is None:
            campaign = campaign_create(
                owner=user, name="Demo campaign",
                product_ids=[p.id for p in products], template_ids=[t.id for t in templates],
                model_ids=[m.id for m in [*models[:2], *grpc_models[:1]]], variants=2, max_tokens=120,
                temperature=0.8, budget_usd=Decimal("0.50"),
            )
        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready: {len(products)} products, {len(templates)} templates, {len(models) + len(grpc_models)} models "
            f"on {provider.base_url}; campaign '{campaign.name}' (id {campaign.id}) is a draft."
        ))
        if created:
            self.stdout.write(self.style.SUCCESS(
                f"Demo login: username '{opts['username']}', password '{opts['password']}'"))
        else:
            self.stdout.write(f"Demo login: username '{opts['username']}' (password unchanged)")

    def _grpc_models(self, target: str) -> list[LLMModel]:
        """A Triton gRPC provider on the simulator's gRPC side, with a vLLM and a TensorRT-LLM model."""
        provider, _ = Provider.objects.get_or_create(
            name="Simulator gRPC (Triton)",
            defaults={"protocol": TRITON_GRPC, "target": target, "max_concurrency": 64},
        )
        if provider.target != target:  # a key belongs to its endpoint: the moved provider gets the demo key
            provider_save(provider=provider, changes={"target": target, "api_key": "sk-sim-demo-0000"})
        if not provider.api_key:
            provider.set_api_key("sk-sim-demo-0000")
            provider.save()
        return [
            LLMModel.objects.get_or_create(
                provider=provider, name=name,
                defaults={"label": label, "preset": preset, "prompt_format": fmt,
                          "input_usd_per_mtok": Decimal(i), "output_usd_per_mtok": Decimal(o)},
            )[0]
            for name, label, preset, fmt, i, o in GRPC_MODELS
        ]
