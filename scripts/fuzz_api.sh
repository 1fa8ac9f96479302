#!/usr/bin/env bash
# Fuzz the REST API against its own OpenAPI schema with schemathesis.
#
# A throwaway SQLite database is migrated and seeded (demo data on the bundled simulator),
# daphne serves the app with the engine inline, and schemathesis sends generated requests
# (valid and invalid) to every operation, checking that none is a server error and that
# every response -- status code, content type, body -- is what the schema promises.
#
# Everything runs inside a network namespace that has only loopback: a fuzzed provider
# base_url can point anywhere, but the engine can reach nothing outside this machine.
# Needs root (unshare -n). Bounded in examples (FUZZ_EXAMPLES per operation) and time
# (FUZZ_TIMEOUT seconds for the whole run). Exits non-zero on any failure.
#
# Before schemathesis, scripts/fuzz_hostile.py sends the hostile inputs random generation
# rarely finds (FUZZ_HOSTILE_ONLY=1 stops after them).
# Extra arguments go to `schemathesis run` (e.g. --include-operation-id product_import).
# Two passes: every operation with an API token, then PATCH /tokens/{id} alone with a browser
# session (it can lower the calling token's own rate limit, which would turn the rest into 429s).
# Not fuzzed: GET /campaigns/{id}/events (a stream that lasts until its campaign ends)
# and DELETE /tokens/{id} (it would revoke the fuzzer's own token); tests cover both.
set -euo pipefail
SCRIPT="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SCRIPT")/.."

FUZZ_TIMEOUT="${FUZZ_TIMEOUT:-600}"
FUZZ_EXAMPLES="${FUZZ_EXAMPLES:-50}"
FUZZ_PHASES="${FUZZ_PHASES:-examples,coverage,fuzzing,stateful}"
FUZZ_SEED="${FUZZ_SEED:-}"
PORT="${FUZZ_PORT:-8765}"
SIM_PORT="${FUZZ_SIM_PORT:-8766}"

if [ "${COPYGEN_FUZZ_INSIDE:-}" != "1" ]; then
    if ! unshare -n true 2>/dev/null; then
        echo "fuzz_api: cannot create a network namespace (unshare -n needs root); refusing to fuzz with network access" >&2
        exit 2
    fi
    started=$(date +%s)
    status=0
    COPYGEN_FUZZ_INSIDE=1 timeout --kill-after=15 "$FUZZ_TIMEOUT" unshare -n -- "$SCRIPT" "$@" || status=$?
    echo "fuzz_api: finished in $(( $(date +%s) - started ))s with status $status"
    [ "$status" -eq 124 ] && echo "fuzz_api: timed out after ${FUZZ_TIMEOUT}s" >&2
    exit "$status"
fi

# --- inside the namespace: loopback only ---------------------------------------------------
ip link set lo up
if ip -o link show | grep -v -q ': lo:'; then
    echo "fuzz_api: the namespace has an interface besides loopback; refusing to fuzz" >&2
    exit 2
fi
PY=.venv/bin/python
WORK="$(mktemp -d -t copygen-fuzz-XXXXXX)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

unset REDIS_URL
export DATABASE_URL="${FUZZ_DATABASE_URL:-sqlite:///$WORK/fuzz.sqlite3}"
export COPYGEN_ENGINE=inline DJANGO_DEBUG=true PYTHONUNBUFFERED=1 COPYGEN_LOG_LEVEL=WARNING

"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py llm_simulator --port "$SIM_PORT" >"$WORK/simulator.log" 2>&1 &
PIDS+=($!)
"$PY" manage.py seed_demo --simulator-url "http://127.0.0.1:$SIM_PORT/v1" >/dev/null
TOKEN="$("$PY" manage.py create_api_token demo --scope admin --name fuzz 2>/dev/null | tail -n 1)"
# The fuzzer sends far more than a client's 600 requests a minute (429s would hide real
# answers): lift the fuzz token's limit. Then sign the demo user in for the browser-session
# pass: print the session key, a CSRF secret and the fuzz token's id.
PREPARE='
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.utils.crypto import get_random_string
from campaigns.models import ApiToken
token = ApiToken.objects.get(name="fuzz")
token.rate_limit_per_minute = 1_000_000
token.save(update_fields=["rate_limit_per_minute"])
user = get_user_model().objects.get(username="demo")
session = SessionStore()
session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash()})
session.create()
print(session.session_key, get_random_string(32), token.id)
'
if ! read -r SESSION CSRF TOKEN_ID < <("$PY" manage.py shell --no-imports -v 0 -c "$PREPARE" 2>"$WORK/prepare.log"); then
    echo "fuzz_api: could not lift the fuzz token's rate limit and sign the demo user in:" >&2
    cat "$WORK/prepare.log" >&2
    exit 1
fi

"$PY" -m daphne -b 127.0.0.1 -p "$PORT" copygen.asgi:application >"$WORK/daphne.log" 2>&1 &
PIDS+=($!)

for _ in $(seq 1 60); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/api/v1/openapi.json" && break
    sleep 0.5
done

# Hand-written hostile cases first (deep JSON, NaN, loop and output bombs, file tags,
# credentials in URLs): each must be a 4xx within 30 s, and shared pages must stay readable.
echo "-- hostile inputs"
hostile_status=0
"$PY" scripts/fuzz_hostile.py --base-url "http://127.0.0.1:$PORT/api/v1" --token "$TOKEN" || hostile_status=$?
if [ "${FUZZ_HOSTILE_ONLY:-}" = "1" ]; then
    exit "$hostile_status"
fi

seed_args=()
[ -n "$FUZZ_SEED" ] && seed_args=(--seed "$FUZZ_SEED")
AUTH=(--header "Authorization: Bearer $TOKEN")
PHASES="$FUZZ_PHASES"
CONFIG=()
ARTIFACTS="$PWD/test-artifacts"
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS"/fuzz-api-*.log
PASS=0
# Each pass's full report is kept in test-artifacts/fuzz-api-N.log. On the console its
# "==== ... in 3.6s ====" rulers become "-- ... --": a log reader looking for a test
# runner's closing line would take them for a pytest run that executed no test.
fuzz() {
    PASS=$((PASS + 1))
    run_schemathesis "$@" 2>&1 | tee "$ARTIFACTS/fuzz-api-$PASS.log" | sed -u -E 's/^=+ (.*[^ =]) =+$/-- \1 --/'
}
run_schemathesis() {
    .venv/bin/schemathesis "${CONFIG[@]}" run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
        --wait-for-schema 30 \
        "${AUTH[@]}" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --phases "$PHASES" \
        --max-examples "$FUZZ_EXAMPLES" \
        --exclude-operation-id campaign_events \
        --exclude-operation-id token_revoke \
        --request-timeout 30 \
        --generation-database none \
        --suppress-health-check all \
        --no-color \
        "${seed_args[@]}" "$@"
}
status=$hostile_status
if [ $# -gt 0 ]; then
    fuzz "$@" || status=$?
else
    # PATCH /tokens/{id} can lower the rate limit of the very token that calls it, after
    # which every operation would answer 429 and go untested. It is fuzzed on its own, last,
    # signed in with a browser session (CSRF-checked, not rate limited) instead of the token.
    echo "-- every operation but PATCH /tokens/{id}, with an API token"
    fuzz --exclude-operation-id token_update || status=$?
    echo "-- PATCH /tokens/{id}, with a browser session"
    AUTH=(--header "Cookie: sessionid=$SESSION; csrftoken=$CSRF" --header "X-CSRFToken: $CSRF")
    # The session must really sign in and pass the CSRF check, or the pass tests nothing.
    code=$(curl -s -o /dev/null -w "%{http_code}" -X PATCH "${AUTH[@]/--header/-H}" \
        -H "Content-Type: application/json" -d '{"name": "fuzz"}' \
        "http://127.0.0.1:$PORT/api/v1/tokens/$TOKEN_ID") || code="no answer"
    if [ "$code" != "200" ]; then
        echo "fuzz_api: the browser session was refused (PATCH /tokens/$TOKEN_ID: $code)" >&2
        status=1
    else
        # Aim every case at a token that exists (a random id would mostly find nothing).
        printf '[[operations]]\ninclude-operation-id = "token_update"\nparameters = { token_id = %s }\n' \
            "$TOKEN_ID" >"$WORK/tokens.toml"
        CONFIG=(--config-file "$WORK/tokens.toml")
        PHASES=$(echo ",$PHASES," | sed 's/,stateful,/,/; s/^,//; s/,$//')  # no links to follow
        fuzz --include-operation-id token_update || status=$?
    fi
fi

if [ "$status" -ne 0 ]; then
    echo "---- server log: errors ----"
    grep -v -E '^(127\.0\.0\.1:|[0-9-]+ [0-9:,]+ WARNING|(Not Found|Unprocessable Entity|Conflict|Bad Request|Forbidden|Unauthorized|Method Not Allowed|Request Entity Too Large|Payload Too Large): )' \
        "$WORK/daphne.log" | tail -n 300 || true
    [ -n "${FUZZ_LOG:-}" ] && cp "$WORK/daphne.log" "$FUZZ_LOG"
fi
exit "$status"
