from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from campaigns.simulator import FAULTS, SimConfig, Simulator


class Command(BaseCommand):
    help = "Serve an OpenAI-compatible LLM simulator (chat completions, streaming SSE, faults) on loopback."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--ttft-ms", type=float, default=SimConfig.ttft_ms, help="time to first token")
        parser.add_argument("--gap-ms", type=float, default=SimConfig.gap_ms, help="time between tokens")
        parser.add_argument("--length", type=int, default=SimConfig.length, help="completion tokens per answer")
        parser.add_argument("--jitter", type=float, default=SimConfig.jitter, help="relative random spread")
        parser.add_argument("--fault", default="", choices=["", *FAULTS], help="fault to inject")
        parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that get --fault")
        parser.add_argument("--retry-after-ms", type=int, default=SimConfig.retry_after_ms)
        parser.add_argument("--rpm", type=int, default=0, help="requests per minute to enforce with 429s (0: none)")
        parser.add_argument("--api-key", default="", help="require this bearer token")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--usage-shape", default=SimConfig.usage_shape, choices=["openai", "deepseek", "openrouter"],
            help="how usage (cached tokens) is reported; a model name's usage=… directive wins",
        )
        parser.add_argument("--no-cache", action="store_true", help="report no prompt-cache hits")
        parser.add_argument("--reasoning", type=int, default=0, help="reasoning tokens per answer")

    def handle(self, *args: Any, **opts: Any) -> None:
        config = SimConfig(
            ttft_ms=opts["ttft_ms"],
            gap_ms=opts["gap_ms"],
            length=opts["length"],
            jitter=opts["jitter"],
            fault=opts["fault"],
            fault_rate=opts["fault_rate"],
            retry_after_ms=opts["retry_after_ms"],
            rpm=opts["rpm"],
            api_key=opts["api_key"],
            seed=opts["seed"],
            usage_shape=opts["usage_shape"],
            cache=not opts["no_cache"],
            reasoning=opts["reasoning"],
        )
        self.stdout.write(f"LLM simulator on http://{opts['host']}:{opts['port']}/v1 (Ctrl-C to stop)")
        Simulator(config).run(host=opts["host"], port=opts["port"])
