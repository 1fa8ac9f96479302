#!/usr/bin/env bash
# Set up and run the whole test suite: once on the embedded default (SQLite, in-memory
# channel layer, browser tests included), once on PostgreSQL + Redis (the production path).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
scripts/install_browser.sh
scripts/ensure_services.sh

export PYTHONUNBUFFERED=1
# Keep this run's Redis keys apart from any other user of the same Redis.
export COPYGEN_REDIS_PREFIX="copygen-test-$$"
PG_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
REDIS="${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"

rm -f test-artifacts/junit-*.xml
# The closing line -- tests: N passed, N failed, N skipped -- is printed however the run ends.
summary() {
    local status=$?
    local files=(test-artifacts/junit-*.xml)
    if [ -e "${files[0]}" ]; then
        echo "== summary"
        .venv/bin/python scripts/ci_summary.py "${files[@]}" || true
    fi
    exit "$status"
}
trap summary EXIT

echo "== lint and types"
.venv/bin/ruff check .
.venv/bin/mypy campaigns/engine campaigns/providers

echo "== suite on SQLite + in-memory channel layer"
env -u DATABASE_URL -u REDIS_URL .venv/bin/pytest --junitxml=test-artifacts/junit-sqlite.xml "$@"

echo "== suite on PostgreSQL + Redis"
DATABASE_URL="$PG_URL" REDIS_URL="$REDIS" COPYGEN_REQUIRE_SERVICES=1 \
    .venv/bin/pytest --junitxml=test-artifacts/junit-postgres.xml -m "not browser" "$@"

echo "== API fuzzing: schemathesis against the OpenAPI schema, in a loopback-only network namespace"
scripts/fuzz_api.sh

echo "== failure drills: kill -9 a worker, Redis restarted, provider down 30 s (loopback; pass/fail only)"
.venv/bin/python -m bench drills --check --only kill_worker,redis_restart,outage
echo "== API fuzzing and failure drills passed"
