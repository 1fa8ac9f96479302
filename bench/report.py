"""``docs/BENCHMARKS.md`` and its charts (plain SVG) from ``bench/results/*.json``.

The generated parts sit between ``<!-- generated:NAME -->`` markers; everything else in
the file (the analysis) is kept as written when the report is rewritten.
"""

from __future__ import annotations

import json
import pathlib
import re
from html import escape
from typing import Any

from bench.harness import ROOT

__all__ = ["bar_chart_svg", "write_report"]

DOC = ROOT / "docs" / "BENCHMARKS.md"
CHARTS = ROOT / "docs" / "benchmarks"
RESULTS = ROOT / "bench" / "results"
LABELS = {
    "httpx": "httpx, default transport",
    "httpx_aiohttp": "httpx + httpx-aiohttp transport",
    "aiohttp": "aiohttp",
    "openai_sdk": "openai SDK + Semaphore",
    "copygen_inline": "copygen inline (SQLite, in-memory layer)",
    "copygen_workers": "copygen, 2 workers (PostgreSQL + Redis)",
    "copygen_inline_pg": "copygen inline (PostgreSQL)",
}
BARE = ("httpx", "httpx_aiohttp", "aiohttp")


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("✅" if ok else "❌")


def bar_chart_svg(title: str, rows: list[tuple[str, float, bool]], unit: str) -> str:
    """Horizontal bars: (label, value, highlighted)."""
    width, left, bar_h, gap = 720, 300, 22, 8
    height = 40 + len(rows) * (bar_h + gap) + 10
    top = max((v for _, v, _ in rows), default=1.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="system-ui, sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="22" font-size="15" font-weight="600">{escape(title)}</text>',
    ]
    for i, (label, value, hi) in enumerate(rows):
        y = 36 + i * (bar_h + gap)
        w = (width - left - 90) * value / top
        colour = "#2563eb" if hi else "#9ca3af"
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}" rx="3"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 16}">{value:,.1f} {escape(unit)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# --- sections -------------------------------------------------------------------------------
def _machine(res: dict[str, Any]) -> str:
    m = res.get("machine", {})
    pk = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items())
    mode = res.get("mode_text") or f"`{res.get('mode')}` mode"
    return (
        f"Measured {res.get('updated', '?')} in {mode} on {m.get('cpus')} vCPUs "
        f"({m.get('cpu_model')}), {m.get('memory_gb')} GiB RAM, Linux {m.get('kernel')}, Python {m.get('python')}; "
        f"{pk}; {m.get('postgresql')}; Redis {m.get('redis')}."
    )


def _throughput(res: dict[str, Any]) -> str:
    runs = res.get("throughput") or []
    if not runs:
        return "_not run_"
    out = []
    configs = sorted({(r.get("n"), r.get("concurrency")) for r in runs}, key=lambda x: (x[0] or 0, x[1] or 0))
    CHARTS.mkdir(parents=True, exist_ok=True)
    for n, c in configs:
        group = [r for r in runs if r.get("n") == n and r.get("concurrency") == c]
        bare = [r.get("gen_per_s") or 0 for r in group if r.get("peer") in BARE]
        fastest = max(bare) if bare else None
        sdk = next((r.get("gen_per_s") for r in group if r.get("peer") == "openai_sdk"), None)
        ideal = n / (((n + c - 1) // c) * 1.46) if n and c else None
        out.append(
            f"\n**{n:,} streams of 64 tokens at concurrency {c:,}** "
            f"(a perfect client would need {((n + c - 1) // c)} × 1.46 s: ≤ {ideal:,.0f} generations/s)\n"
        )
        if sdk and ideal and ideal < res["targets"]["vs_openai_sdk"] * sdk:
            out.append(
                f"Here the openai SDK loop reached {sdk:.1f}/s, so {res['targets']['vs_openai_sdk']:g} × it would "
                f"be {res['targets']['vs_openai_sdk'] * sdk:.0f}/s, above what a perfect client can do "
                f"({ideal:.0f}/s): the most any client can reach is {ideal / sdk:.2f} × the SDK.\n"
            )
        out.append(
            "| client | generations/s | × fastest bare loop | × openai SDK | client CPU ms / generation "
            "| pool timeouts | errors | every result stored | simulator CPU s | machine busy |"
        )
        out.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        chart_rows = []
        for r in group:
            peer = r.get("peer") or "?"
            g = r.get("gen_per_s")
            errors = r.get("errors") or r.get("attempt_errors") or {}
            stored = (
                "–"
                if not peer.startswith("copygen")
                else f"{_verdict(r.get('all_stored'))} {r.get('stored_exactly', '?')}/{r.get('cells', '?')}"
            )
            vs_bare = g / fastest if g and fastest else None
            vs_sdk = g / sdk if g and sdk else None
            mark = sdk_mark = ""
            if peer.startswith("copygen") and vs_bare is not None:
                mark = " " + _verdict(vs_bare >= res["targets"]["vs_fastest_bare"])
                sdk_mark = " " + _verdict((vs_sdk or 0) >= res["targets"]["vs_openai_sdk"])
            note = " (did not finish in time)" if r.get("finished") is False else ""
            if r.get("error"):
                note = " (run failed, see log)"
            out.append(
                f"| {LABELS.get(peer, peer)}{note} | {_fmt(g)} | {_fmt(vs_bare, 2)}{mark} | {_fmt(vs_sdk, 2)}{sdk_mark} | "
                f"{_fmt(r.get('cpu_ms_per_gen'), 2)} | {r.get('pool_timeouts', 0)} | "
                f"{sum(errors.values()) if errors else 0} | {stored} | {_fmt((r.get('probes') or {}).get('sim_cpu_s'))} | "
                f"{_fmt((r.get('probes') or {}).get('machine_cpu_busy'), 2)} |"
            )
            chart_rows.append((LABELS.get(peer, peer), float(g or 0), peer.startswith("copygen")))
        name = f"throughput-{n}-{c}.svg"
        (CHARTS / name).write_text(
            bar_chart_svg(f"Generations per second — {n:,} streams at concurrency {c:,}", chart_rows, "/s")
        )
        cpu_rows = [
            (
                LABELS.get(r.get("peer"), r.get("peer")),
                float(r.get("cpu_ms_per_gen") or 0),
                str(r.get("peer")).startswith("copygen"),
            )
            for r in group
        ]
        cpu_name = f"cpu-{n}-{c}.svg"
        (CHARTS / cpu_name).write_text(bar_chart_svg(f"Client CPU per generation — {n:,} at {c:,}", cpu_rows, "ms"))
        out.append(f"\n![throughput](benchmarks/{name})\n![cpu](benchmarks/{cpu_name})\n")
    return "\n".join(out)


TOPOLOGY = {"inline": "inline (SQLite)", "workers": "2 workers (PostgreSQL + Redis)"}


def _latency(res: dict[str, Any]) -> str:
    runs = res.get("latency") or []
    if not runs:
        return "_not run_"
    t = res["targets"]
    out = [
        "| engine | concurrency | generations | first tokens seen | p50 ms | p90 ms | p99 ms | max ms | target | met | "
        "fastest bare loop receives it: p50 / p99 ms | "
        "text delivered / generated | cells rebuilt exactly | viewer saw the finish | server CPU s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|:-:|--:|--:|--:|:-:|--:|",
    ]
    for r in runs:
        if r.get("error"):
            out.append(
                f"| {TOPOLOGY.get(r.get('topology', 'inline'))} | {r.get('concurrency')} | {r.get('n')} | "
                "run failed: see the log | | | | | | ❌ | | | | | |"
            )
            continue
        lat = r.get("latency_ms") or {}
        bare = r.get("bare_first_token_ms") or {}
        c = r.get("concurrency")
        complete = r.get("delivered_ratio") == 1.0 and r.get("cells_exact") == r.get("cells")
        if c == 1:
            target = f"p50 ≤ {t['latency_c1_p50_ms']:g}, p99 ≤ {t['latency_c1_p99_ms']:g}"
            ok = (
                lat.get("p50") is not None
                and lat["p50"] <= t["latency_c1_p50_ms"]
                and lat["p99"] <= t["latency_c1_p99_ms"]
            )
        else:
            target = f"p99 ≤ {t['latency_c500_p99_ms']:g}"
            ok = lat.get("p99") is not None and lat["p99"] <= t["latency_c500_p99_ms"]
        out.append(
            f"| {TOPOLOGY.get(r.get('topology', 'inline'))} | {c} | {r.get('n')} | {lat.get('count', 0)} | {_fmt(lat.get('p50'), 2)} | {_fmt(lat.get('p90'), 2)} | "
            f"{_fmt(lat.get('p99'), 2)} | {_fmt(lat.get('max'), 2)} | {target} | {_verdict(ok and complete)} | "
            f"{_fmt(bare.get('p50'), 2)} / {_fmt(bare.get('p99'), 2)} | "
            f"{_fmt(r.get('delivered_ratio'), 3)} | {r.get('cells_exact')}/{r.get('cells')} | "
            f"{_verdict(r.get('finished_event_seen'))} | {_fmt(r.get('server_cpu_s'))} |"
        )
    return "\n".join(out)


def _fanout(res: dict[str, Any]) -> str:
    r = res.get("fanout")
    if not r:
        return "_not run_"
    f = r.get("fanout") or {}
    ok = f.get("ratio_min") == 1.0 and f.get("channel_full") == 0 and f.get("offset_errors") == 0
    return "\n".join(
        [
            "| viewers | generations (all concurrent) | delivered / generated, worst viewer | best viewer | "
            "cells rebuilt exactly (worst viewer) | ChannelFull | offset gaps | events per viewer | "
            "messages per viewer | wall s | met |",
            "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|",
            f"| {f.get('viewers')} | {r.get('n')} | {_fmt(f.get('ratio_min'), 4)} | {_fmt(f.get('ratio_max'), 4)} | "
            f"{f.get('cells_exact_min')}/{f.get('cells')} | {f.get('channel_full')} | {f.get('offset_errors')} | "
            f"{_fmt(f.get('events_per_viewer'))} | {_fmt(f.get('messages_per_viewer'))} | "
            f"{_fmt(r.get('wall_s'))} | {_verdict(ok)} |",
        ]
    )


def _writes(res: dict[str, Any]) -> str:
    out = [_writes_table(res, res.get("writes") or [])]
    if res.get("writes_before"):
        out.append(f"\n{res.get('writes_before_note', 'Earlier:')}\n")
        out.append(_writes_table(res, res["writes_before"]))
    return "\n".join(out)


def _writes_table(res: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "_not run_"
    out = [
        "| database | generations × concurrency | writes on: gen/s | writes off: gen/s | on / off | "
        "'database is locked' | every result stored | met (≥ 0.95) |",
        "|---|---|--:|--:|--:|--:|--:|:-:|",
    ]
    keys = []
    for r in runs:
        key = (r.get("database"), r.get("n"), r.get("concurrency"))
        if key not in keys:
            keys.append(key)
    for key in keys:
        on = next(
            (r for r in runs if (r.get("database"), r.get("n"), r.get("concurrency")) == key and r.get("writes")), {}
        )
        off = next(
            (
                r
                for r in runs
                if (r.get("database"), r.get("n"), r.get("concurrency")) == key and r.get("writes") is False
            ),
            {},
        )
        ratio = on.get("gen_per_s") / off.get("gen_per_s") if on.get("gen_per_s") and off.get("gen_per_s") else None
        locked = (on.get("db_locked_errors") or 0) + (off.get("db_locked_errors") or 0)
        out.append(
            f"| {key[0]} | {key[1]:,} × {key[2]:,} | {_fmt(on.get('gen_per_s'))} | {_fmt(off.get('gen_per_s'))} | "
            f"{_fmt(ratio, 2)} | {locked} | {_verdict(on.get('all_stored'))} | "
            f"{_verdict(ratio is not None and ratio >= res['targets']['writes_ratio'] and locked == 0)} |"
        )
    return "\n".join(out)


MIN_WAVES = 3
"""Growth after the plateau is judged only on runs of at least this many waves (n / concurrency)."""
MAX_GROWTH = 0.05


def _memory(res: dict[str, Any]) -> str:
    runs = [r for r in res.get("throughput") or [] if r.get("memory")]
    if not runs:
        return "_not run_"
    out = [
        "| client | generations × concurrency | RSS before MB | plateau MB | KB per in-flight generation | "
        "× bare httpx+aiohttp loop | × bare httpx loop | growth after plateau | met |",
        "|---|---|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for r in runs:
        m = r["memory"]
        same = [x for x in runs if x.get("n") == r.get("n") and x.get("concurrency") == r.get("concurrency")]
        ref_a = next((x["memory"].get("kb_per_in_flight") for x in same if x.get("peer") == "httpx_aiohttp"), None)
        ref_h = next((x["memory"].get("kb_per_in_flight") for x in same if x.get("peer") == "httpx"), None)
        kb = m.get("kb_per_in_flight")
        ra = kb / ref_a if kb and ref_a else None
        rh = kb / ref_h if kb and ref_h else None
        # A run of fewer than MIN_WAVES waves has no plateau: its "late" samples are the
        # results being written and the process winding down, not growth.
        waves = (r.get("n") or 0) / max(r.get("concurrency") or 1, 1)
        growth = (m.get("growth_after_plateau") or 0) if waves >= MIN_WAVES else None
        ok = None
        if str(r.get("peer")).startswith("copygen") and ra is not None:
            ok = ra <= res["targets"]["memory_vs_httpx"] and (growth or 0) <= MAX_GROWTH
        shown = f"{_fmt(growth * 100, 1)} %" if growth is not None else f"– ({waves:g} wave{'s' if waves != 1 else ''})"
        out.append(
            f"| {LABELS.get(r.get('peer'), r.get('peer'))} | {r.get('n'):,} × {r.get('concurrency'):,} | "
            f"{_fmt(m.get('baseline_mb'))} | {_fmt(m.get('plateau_mb'))} | {_fmt(kb)} | {_fmt(ra, 2)} | "
            f"{_fmt(rh, 2)} | {shown} | {_verdict(ok)} |"
        )
    return "\n".join(out)


def _ratelimit(res: dict[str, Any]) -> str:
    r = res.get("ratelimit")
    if not r:
        return "_not run_"
    rate = r.get("rate") or {}
    util = rate.get("utilisation_last_60s")
    ok = util is not None and util >= res["targets"]["rate_utilisation"] and rate.get("rate_limited_429") == 0
    return "\n".join(
        [
            "| limit /min | run s | accepted | most a 60 s window allows (ideal) | accepted in the last 60 s | "
            "utilisation | 429s | met |",
            "|--:|--:|--:|--:|--:|--:|--:|:-:|",
            f"| {r.get('rpm')} | {_fmt(rate.get('seconds'))} | {rate.get('accepted')} | {rate.get('ideal_accepted')} | "
            f"{rate.get('last_60s_window')} | {_fmt(util, 3)} | {rate.get('rate_limited_429')} | {_verdict(ok)} |",
        ]
    )


def _profile(res: dict[str, Any]) -> str:
    runs = res.get("profile") or []
    if not runs:
        return "_not run (add `--profile`)_"
    out = []
    for p in runs:
        label = f" ({p['label']})" if p.get("label") else ""
        out.append(
            f"\n**copygen inline, {p['n']:,} at {p['concurrency']:,}{label}** — {p.get('samples')} samples, "
            f"{_fmt(p.get('gen_per_s'))} gen/s under the profiler. Share of CPU samples:\n"
        )
        out.append("| by area (innermost frame) | % | | under these functions (inclusive) | % |")
        out.append("|---|--:|---|---|--:|")
        areas, inc = p.get("areas_pct", []), p.get("inclusive_pct", [])
        for i in range(max(len(areas), len(inc))):
            a = areas[i] if i < len(areas) else ("", "")
            b = inc[i] if i < len(inc) else ("", "")
            out.append(f"| {a[0]} | {a[1]} | | `{b[0]}` | {b[1]} |" if b[0] else f"| {a[0]} | {a[1]} | | | |")
        out.append("\nTop functions by self time: " + ", ".join(f"`{k}` {v} %" for k, v in p.get("self_pct", [])[:12]))
    return "\n".join(out)


def _drills(res: dict[str, Any]) -> str:
    drills = res.get("drills") or {}
    if not drills:
        return "_not run_"
    out = ["| drill | outcome | details |", "|---|:-:|---|"]
    for name, d in drills.items():
        out.append(
            f"| {d.get('title', name)} | {_verdict(d.get('passed'))} | {str(d.get('summary', '')).replace('|', '/')} |"
        )
    return "\n".join(out)


def _launch(res: dict[str, Any]) -> str:
    launch = res.get("launch") or {}
    runs = launch.get("runs") or []
    if not runs:
        return "_not run_"
    machine = launch.get("machine") or {}
    out = [
        f"Measured {launch.get('updated', '?')} on {machine.get('cpus', '?')} vCPUs "
        f"({machine.get('cpu_model', '?')}), {machine.get('postgresql', '')}.",
        "",

        "| database | cells | prompts stored | render (no lock) s | write (in the transaction) s | launch s | "
        "ms per 1,000 cells | other user's writes during it | failed | longest write ms | met |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for r in runs:
        if r.get("error"):
            out.append(f"| {r.get('database', '?')} | failed: {str(r['error'])[:120]} |" + " |" * 9)
            continue
        met = r.get("other_write_errors") == 0 and r.get("other_writes", 0) > 0
        out.append(
            f"| {r['database']} | {r['cells']:,} | {r['prompts']:,} | {_fmt(r.get('render_s'), 2)} | "
            f"{_fmt(r.get('write_s'), 2)} | {_fmt(r.get('launch_s'), 2)} | {_fmt(r.get('ms_per_1000_cells'))} | "
            f"{r.get('other_writes')} | {r.get('other_write_errors')} | {_fmt(r.get('other_write_max_ms'))} | "
            f"{_verdict(met)} |"
        )
    return "\n".join(out)


SECTIONS = {
    "machine": _machine,
    "throughput": _throughput,
    "latency": _latency,
    "fanout": _fanout,
    "writes": _writes,
    "memory": _memory,
    "ratelimit": _ratelimit,
    "profile": _profile,
    "launch": _launch,
    "drills": _drills,
}


def _load() -> dict[str, Any]:
    res: dict[str, Any] = {}
    from_full: list[str] = []
    for mode in ("quick", "full"):  # the full run, when there is one, wins
        path = RESULTS / f"{mode}.json"
        if path.exists():
            data = {k: v for k, v in json.loads(path.read_text()).items() if v}
            if mode == "full":
                from_full = [k for k in ("throughput", "latency", "fanout", "writes", "ratelimit", "profile") if k in data]
            res.update(data)
    if from_full and from_full != ["throughput", "latency", "fanout", "writes", "ratelimit", "profile"]:
        res["mode_text"] = f"`quick` mode (`full` for {' and '.join(from_full)})"
    drills = RESULTS / "drills.json"
    if drills.exists():
        res["drills"] = json.loads(drills.read_text())
    launch = RESULTS / "launch.json"
    if launch.exists():
        res["launch"] = json.loads(launch.read_text())
    return res


def write_report() -> pathlib.Path:
    res = _load()
    text = DOC.read_text() if DOC.exists() else ""
    for name, render in SECTIONS.items():
        block = f"<!-- generated:{name} -->\n{render(res) if res else '_not run_'}\n<!-- /generated:{name} -->"
        pattern = re.compile(rf"<!-- generated:{name} -->.*?<!-- /generated:{name} -->", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _m, b=block: b, text)
        else:
            text += f"\n{block}\n"
    DOC.write_text(text)
    return DOC
