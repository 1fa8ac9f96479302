"""``python -m bench run [--quick|--full]`` · ``drills`` · ``parse`` · ``report``."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

CHILDREN = {
    "peer": ("bench.peers", "run_peer"),
    "copygen_inline": ("bench.copygen_runs", "run_inline"),
    "copygen_workers": ("bench.copygen_runs", "run_workers"),
    "latency": ("bench.live", "run_latency"),
    "idle_viewers": ("bench.live", "run_idle_viewers"),
    "drill": ("bench.drills", "run_one"),
    "launch": ("bench.launch", "run_launch"),
}


def _child(name: str, spec: dict[str, Any]) -> None:
    import importlib

    from bench.harness import emit

    module, func = CHILDREN[name]
    target = getattr(importlib.import_module(module), func)
    result = target(spec)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    emit(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmarks and write docs/BENCHMARKS.md")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", const="quick", dest="mode", help="about 6 minutes (default)")
    mode.add_argument("--full", action="store_const", const="full", dest="mode", help="about 30 minutes")
    run.add_argument("--only", default="", help="comma-separated scenario groups (see bench/suite.py)")
    run.add_argument("--profile", action="store_true", help="also profile the copygen path with py-spy")
    drills = sub.add_parser("drills", help="run the failure drills and write their results")
    drills.add_argument("--only", default="", help="comma-separated drills: kill_worker,redis_restart,outage,viewers,viewers_workers")
    drills.add_argument(
        "--force", action="store_true", help="restart the shared Redis on 6379 (default: a private one)"
    )
    drills.add_argument(
        "--check", action="store_true", help="only pass or fail (exit 1): record nothing, leave the report alone"
    )
    sub.add_parser("parse", help="CPU per SSE chunk of the stream parser, orjson against stdlib json")
    sub.add_parser("report", help="rewrite docs/BENCHMARKS.md from the stored results")
    child = sub.add_parser("child", help=argparse.SUPPRESS)
    child.add_argument("name", choices=sorted(CHILDREN))
    child.add_argument("spec")
    args = parser.parse_args(argv)

    if args.command == "child":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: drop, stop, restore
        _child(args.name, json.loads(args.spec))
        return 0
    if args.command == "run":
        from bench.suite import run_suite

        return run_suite(mode=args.mode or "quick", only=[s for s in args.only.split(",") if s], profile=args.profile)
    if args.command == "drills":
        from bench.drills import run_drills

        return run_drills(only=[s for s in args.only.split(",") if s], force=args.force, record=not args.check)
    if args.command == "parse":
        from bench.stream_parse import main as parse_main

        return parse_main()
    from bench.report import write_report

    write_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
