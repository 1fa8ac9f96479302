from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Migrate, seed the demo data and serve the app (daphne) with the bundled LLM simulator."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--simulator-port", type=int, default=8001)
        parser.add_argument("--simulator-grpc-port", type=int, default=8002, help="the simulator's Triton gRPC side")

    def handle(self, *args: Any, **opts: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        sim_url = f"http://127.0.0.1:{opts['simulator_port']}/v1"
        grpc_target = f"127.0.0.1:{opts['simulator_grpc_port']}"
        call_command("seed_demo", simulator_url=sim_url, simulator_grpc_target=grpc_target)
        manage = [sys.executable, "manage.py"]
        children = [
            subprocess.Popen([*manage, "llm_simulator", "--port", str(opts["simulator_port"]),
                              "--grpc-port", str(opts["simulator_grpc_port"])]),
            subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", opts["host"], "-p", str(opts["port"]), "copygen.asgi:application"],
                env={**os.environ},
            ),
        ]
        self.stdout.write(self.style.SUCCESS(
            f"copygen is starting on http://{opts['host']}:{opts['port']}/ (simulator on {sim_url} and gRPC "
            f"{grpc_target}); Ctrl-C stops both."
        ))
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            for child in children:
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
        failed = [c.args for c in children if c.returncode not in (0, None, -signal.SIGINT, -signal.SIGTERM)]
        if failed:
            raise SystemExit(1)
