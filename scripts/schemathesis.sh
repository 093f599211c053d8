#!/usr/bin/env bash
# The API fuzzing step of `make test`: runs schemathesis (PyPI, installed by
# scripts/tools.sh) against /openapi.json of a real API and worker, and fails
# on any server error (5xx) or any response the document does not describe
# (status code or body schema).
#
# It expects the local services to be up (`make test` runs it inside
# `carepath stack exec`). The API and the worker it starts use the test
# database and Redis index (CAREPATH_TEST_DATABASE_URL, CAREPATH_TEST_REDIS_URL),
# a free port, a task queue of their own and the tests' public keys. An admin
# user with a fresh password (internal/testenv/testuser) signs in for the
# token.
#
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase (default 15)
#   SCHEMATHESIS_MAX_TIME      time budget of the run in seconds (default 300)
#   SCHEMATHESIS_SEED          the generator's seed (default 7, so runs repeat)
#
# Extra arguments go to `schemathesis run`, e.g. --include-path /api/v1/journeys.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CAREPATH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/carepath}"
ST="$CACHE/schemathesis-venv/bin/schemathesis"
CAREPATH="$ROOT/bin/carepath"
[ -x "$ST" ] || { echo "schemathesis: $ST missing; run scripts/tools.sh (make tools)" >&2; exit 1; }
[ -x "$CAREPATH" ] || { echo "schemathesis: $CAREPATH missing; run make build" >&2; exit 1; }

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
WORK="$(mktemp -d)"
export CAREPATH_ENV=local
export API_ADDR="127.0.0.1:$PORT" PUBLIC_BASE_URL="$BASE"
export DATABASE_OWNER_URL="${CAREPATH_TEST_DATABASE_URL:-postgres://carepath:carepath@127.0.0.1:5432/carepath_test?sslmode=disable}"
export DATABASE_URL="${CAREPATH_TEST_APP_DATABASE_URL:-$(printf %s "$DATABASE_OWNER_URL" | sed -E 's#://[^@]*@#://carepath_app:carepath_app@#')}"
export REDIS_URL="${CAREPATH_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
export TEMPORAL_TASK_QUEUE="schemathesis-$$"
# The tests' public keys (internal/testenv): they protect nothing.
export CAREPATH_CODEC_KEYS="test-1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
export PRESCRIPTION_SIGNING_KEY="Y2FyZXBhdGgtdGVzdC1wcmVzY3JpcHRpb24ta2V5ISE="
export CAREPATH_DATA_DIR="$WORK/data"
# The run outlasts a default access token, and its request rate is far above
# a person's: the general limits are lifted, the SMS ones stay (their 429s
# are part of the contract).
export CAREPATH_AUTH_ACCESS_TTL=1h RATE_LIMIT_PER_IP=off RATE_LIMIT_PER_USER=off

pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
	echo "schemathesis: $1" >&2
	for log in "$WORK"/*.log; do echo "--- $log" >&2; tail -n 40 "$log" >&2; done
	exit 1
}

echo "==> schemathesis  API and worker on $BASE (task queue $TEMPORAL_TASK_QUEUE)"
ADMIN="schemathesis-admin@test.invalid"
PASSWORD="$(cd "$ROOT" && go run ./internal/testenv/testuser -email "$ADMIN" -role admin 2>"$WORK/testuser.log")" ||
	fail "could not register the test admin"
"$CAREPATH" worker >"$WORK/worker.log" 2>&1 &
pids+=($!)
"$CAREPATH" api >"$WORK/api.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
	curl -fsS "$BASE/openapi.json" >/dev/null 2>&1 && break
	sleep 0.5
done
curl -fsS "$BASE/openapi.json" >/dev/null || fail "the API did not come up on $BASE"

TOKEN="$(curl -fsS -X POST "$BASE/api/v1/auth/sign-in" -H 'Content-Type: application/json' \
	-d "{\"email\":\"$ADMIN\",\"password\":\"$PASSWORD\"}" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')" || fail "the test admin could not sign in"

echo "==> schemathesis  fuzzing $BASE/openapi.json as an admin"
# From the scratch folder: schemathesis keeps its example database in ./.schemathesis.
cd "$WORK"
"$ST" --no-color run "$BASE/openapi.json" --url "$BASE" \
	--checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance,response_headers_conformance \
	--header "Authorization: Bearer $TOKEN" \
	--phases examples,coverage,fuzzing \
	--max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-15}" --max-time "${SCHEMATHESIS_MAX_TIME:-300}" \
	--workers 2 --seed "${SCHEMATHESIS_SEED:-7}" --request-timeout 30 --suppress-health-check all "$@" || fail "schemathesis found failures (above)"
