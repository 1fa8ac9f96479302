"""Hostile inputs that random fuzzing is unlikely to find, sent to a running copygen.

Each case is a request a hostile marketer could send: JSON nested a thousand levels deep,
NaN where money goes, booleans where counts go, NUL characters, templates that loop or
print without end, tags that reach for files, provider URLs that carry credentials. Each
must be answered by a 4xx (or, where the input is in fact valid, a 2xx) within
``--timeout`` seconds: never a 5xx, never a hang. Afterwards the shared pages every user
reads must still answer 200 (a stored hostile value must not break them for everyone).

    python scripts/fuzz_hostile.py --base-url http://127.0.0.1:8765/api/v1 --token TOKEN

Only loopback addresses are accepted as the base URL. Exits 1 if any case fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

DEEP = 1_000  # levels of nesting in the deep-JSON cases
OK, CLIENT_ERROR = "2xx", "4xx"


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: str | Callable[[dict[str, Any]], str]
    expect: str  # "4xx": refused; "2xx|4xx": either, as long as it is not a server error


def deep_object(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def loop_bomb() -> str:
    return (
        "{% for a in (1..1000) %}{% for b in (1..1000) %}{% for c in (1..1000) %}x{% endfor %}{% endfor %}{% endfor %}"
    )


def output_bomb() -> str:
    return "{% for i in (1..1000000) %}{{ product.description }}{% endfor %}"


def nested_ifs(levels: int) -> str:
    return "{% if true %}" * levels + "x" + "{% endif %}" * levels


def product(**fields: Any) -> str:
    return json.dumps({"name": "hostile", "description": "d", **fields})


def template(body: str) -> str:
    return json.dumps({"name": "hostile template", "body": body})


def campaign(ids: dict[str, Any], **fields: Any) -> str:
    matrix = {"product_ids": [ids["product"]], "template_ids": [ids["template"]], "model_ids": [ids["model"]]}
    return json.dumps({"name": "hostile", **matrix, **fields})


def raw_campaign(ids: dict[str, Any], field: str, literal: str) -> str:
    """A campaign body whose ``field`` holds a JSON literal Python's json module would not write (NaN)."""
    body = campaign(ids)
    return body[:-1] + f', "{field}": {literal}}}'


CASES = [
    Case(
        "product attributes nested 1,000 levels",
        "POST",
        "/products",
        product()[:-1] + ', "attributes": ' + deep_object(DEEP) + "}",
        CLIENT_ERROR,
    ),
    Case(
        "product attributes nested 11 levels",
        "POST",
        "/products",
        product(attributes=json.loads(deep_object(11))),
        CLIENT_ERROR,
    ),
    Case("product attributes of 3 MB", "POST", "/products", product(attributes={"x": "y" * 3_000_000}), CLIENT_ERROR),
    Case("product name with a NUL character", "POST", "/products", json.dumps({"name": "a\x00b"}), CLIENT_ERROR),
    Case("product description with a NUL character", "POST", "/products", product(description="a\x00b"), CLIENT_ERROR),
    Case("template body of 1 MB", "POST", "/templates", template("x" * 1_000_000), CLIENT_ERROR),
    Case("template including a file", "POST", "/templates", template('{% include "base.html" %}'), CLIENT_ERROR),
    Case("template rendering a partial", "POST", "/templates", template("{% render 'secrets' %}"), CLIENT_ERROR),
    Case("template with Django's debug tag", "POST", "/templates", template("{% debug %}"), CLIENT_ERROR),
    Case("template nesting 500 ifs", "POST", "/templates", template(nested_ifs(500)), "2xx|4xx"),
    Case(
        "campaign budget NaN (JSON literal)",
        "POST",
        "/campaigns",
        lambda ids: raw_campaign(ids, "budget_usd", "NaN"),
        CLIENT_ERROR,
    ),
    Case(
        "campaign budget 'NaN' (string)",
        "POST",
        "/campaigns",
        lambda ids: campaign(ids, budget_usd="NaN"),
        CLIENT_ERROR,
    ),
    Case(
        "campaign budget Infinity",
        "POST",
        "/campaigns",
        lambda ids: raw_campaign(ids, "budget_usd", "Infinity"),
        CLIENT_ERROR,
    ),
    Case(
        "campaign temperature NaN",
        "POST",
        "/campaigns",
        lambda ids: raw_campaign(ids, "temperature", "NaN"),
        CLIENT_ERROR,
    ),
    Case("campaign max_tokens true", "POST", "/campaigns", lambda ids: campaign(ids, max_tokens=True), CLIENT_ERROR),
    Case("campaign variants true", "POST", "/campaigns", lambda ids: campaign(ids, variants=True), CLIENT_ERROR),
    Case(
        "estimate with a loop bomb template",
        "POST",
        "/estimate",
        lambda ids: json.dumps(
            {"product_ids": [ids["product"]], "template_ids": [ids["loop_bomb"]], "model_ids": [ids["model"]]}
        ),
        CLIENT_ERROR,
    ),
    Case(
        "estimate with an output bomb template",
        "POST",
        "/estimate",
        lambda ids: json.dumps(
            {"product_ids": [ids["product"]], "template_ids": [ids["output_bomb"]], "model_ids": [ids["model"]]}
        ),
        CLIENT_ERROR,
    ),
    Case("launch with an output bomb template", "POST", "/campaigns/{bomb_campaign}/launch", "", CLIENT_ERROR),
    Case(
        "provider base_url ftp://",
        "POST",
        "/providers",
        json.dumps({"name": "hostile ftp", "base_url": "ftp://127.0.0.1/v1"}),
        CLIENT_ERROR,
    ),
    Case(
        "provider base_url with user:pass@",
        "POST",
        "/providers",
        json.dumps({"name": "hostile userinfo", "base_url": "http://user:pass@127.0.0.1:9/v1"}),
        CLIENT_ERROR,
    ),
    Case(
        "provider base_url with a query string",
        "POST",
        "/providers",
        json.dumps({"name": "hostile query", "base_url": "http://127.0.0.1:9/v1?key=secret"}),
        CLIENT_ERROR,
    ),
]

# Pages every user reads: a hostile value stored by one user must not break them for all.
SHARED_READS = ["/products", "/templates", "/campaigns", "/models", "/providers", "/generations", "/usage"]


def loopback_only(url: str) -> str:
    host = urlsplit(url).hostname
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit(f"fuzz_hostile: {url} is not a loopback address; refusing to send anything")
    return url.rstrip("/")


def setup(client: httpx.Client) -> dict[str, Any]:
    """A product, a model and the hostile templates the estimate and launch cases use."""

    def create(path: str, body: dict[str, Any]) -> int:
        response = client.post(path, json=body)
        response.raise_for_status()
        return int(response.json()["id"])

    models = client.get("/models").json()["items"]
    if not models:
        raise SystemExit("fuzz_hostile: no model to aim campaigns at (seed the demo data first)")
    ids: dict[str, Any] = {
        "product": create("/products", {"name": "hostile base", "description": "z" * 1_000}),
        "template": create("/templates", {"name": "hostile base", "body": "Write about {{ product.name }}."}),
        "model": models[0]["id"],
    }
    for name, body in (("loop_bomb", loop_bomb()), ("output_bomb", output_bomb())):
        response = client.post("/templates", json={"name": f"hostile {name}", "body": body})
        # Refused at save is the best answer; then aim the later cases at the base template,
        # which keeps them valid requests (they must still not fail with a 5xx).
        ids[name] = int(response.json()["id"]) if response.status_code == 201 else ids["template"]
    matrix = {"product_ids": [ids["product"]], "template_ids": [ids["output_bomb"]], "model_ids": [ids["model"]]}
    ids["bomb_campaign"] = create("/campaigns", {"name": "hostile bomb", **matrix, "budget_usd": "0.01"})
    return ids


def run_case(client: httpx.Client, case: Case, ids: dict[str, Any]) -> str | None:
    """None if the answer is acceptable, else why not."""
    body = case.body(ids) if callable(case.body) else case.body
    path = case.path.format(**ids)
    started = time.monotonic()
    try:
        response = client.request(
            case.method, path, content=body.encode(), headers={"Content-Type": "application/json"}
        )
    except httpx.TimeoutException:
        return f"no answer within {client.timeout.read:.0f} s"
    elapsed = time.monotonic() - started
    code = response.status_code
    kind = f"{code // 100}xx"
    if kind not in case.expect.split("|"):
        return f"answered {code} in {elapsed:.1f} s, expected {case.expect}: {response.text[:300]!r}"
    if kind == "4xx" and "json" not in response.headers.get("content-type", ""):
        return f"answered {code} with {response.headers.get('content-type')!r}, not JSON"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the API root, e.g. http://127.0.0.1:8765/api/v1")
    parser.add_argument("--token", required=True, help="an API token with the admin scope")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds a case may take")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.token}"}
    failures = 0
    with httpx.Client(base_url=loopback_only(args.base_url), headers=headers, timeout=args.timeout) as client:
        ids = setup(client)
        for case in CASES:
            problem = run_case(client, case, ids)
            failures += problem is not None
            print(f"{'FAIL' if problem else 'ok  '} {case.name}" + (f": {problem}" if problem else ""), flush=True)
        for path in SHARED_READS:
            try:
                code = client.get(path).status_code
            except httpx.TimeoutException:
                code = 0
            failures += code != 200
            print(f"{'ok  ' if code == 200 else 'FAIL'} GET {path} afterwards: {code or 'no answer'}", flush=True)
    print(
        f"fuzz_hostile: {len(CASES) + len(SHARED_READS) - failures} of {len(CASES) + len(SHARED_READS)} hostile cases held"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
