"""Benchmarks and failure drills for copygen, side by side with what users would pick instead.

Everything runs on loopback against the bundled LLM simulator (in its own process), with
bounded counts and times. ``python -m bench run --quick`` measures, ``python -m bench
drills`` breaks things on purpose, and both write their results into ``docs/BENCHMARKS.md``.

Layout::

    bench/__main__.py     the command line
    bench/harness.py      processes: the simulator, scenario children, CPU and memory probes
    bench/peers.py        the bare client loops and the openai SDK loop
    bench/copygen_runs.py copygen in-process (SQLite) and as generation_worker processes (PostgreSQL)
    bench/live.py         added latency and idle viewers against a real daphne server
    bench/profile.py      py-spy of the copygen path, folded by area and function
    bench/suite.py        which scenarios a mode runs, and their targets
    bench/report.py       docs/BENCHMARKS.md and its SVG charts
    bench/layer_copy.py   channels' in-memory layer against copygen's (one batch to 50 viewers)
    bench/drills/         kill -9 a worker, restart Redis, provider outage, idle viewers
"""
