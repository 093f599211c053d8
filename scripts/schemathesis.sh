#!/usr/bin/env bash
# The API fuzzing step of `make test`: runs schemathesis (PyPI, installed by
# scripts/tools.sh) against /openapi.json of a real API and worker, once per
# role (patient, doctor, dietitian, coordinator, integrator, admin), and fails
# on any server error (5xx), on any response the document does not describe
# (status code or body schema), and on any operation that never answered 2xx
# for any role unless the document says why (x-carepath-fuzz-no-2xx).
#
# It expects the local services to be up (`make test` runs it inside
# `carepath stack exec`). The API and the worker it starts use the test
# database and Redis index (CAREPATH_TEST_DATABASE_URL, CAREPATH_TEST_REDIS_URL),
# a free port, a task queue of their own and the tests' public keys.
# internal/fuzzseed signs in a user of every role and builds each a world of
# its own (patient, doctor, dietitian, journeys, records, consents, keys,
# HealthLink requests); scripts/schemathesis_hooks.py puts those objects into
# a share of the generated requests. The roles run at once against one API;
# the stateful phase follows the document's OpenAPI links (a started
# journey's ID feeds the journey routes, a created record's ID the record
# routes). scripts/schemathesis_report.py prints, per operation, how many
# cases reached a 2xx.
#
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation, phase and role (default 6)
#   SCHEMATHESIS_MAX_TIME      time budget of each role's run in seconds (default 270; the
#                              runs spend all of it, fuzzing again until it is up)
#   SCHEMATHESIS_SEED          the generator's seed (default 7, so runs repeat)
#   SCHEMATHESIS_ROLES         the roles to run as (default all six)
#   FUZZ_SEEDED_SHARE          share of cases given the role's seeded objects (default 0.5)
#   SCHEMATHESIS_KEEP          set: keep the scratch folder (logs, seed, reports)
#
# Extra arguments go to every `schemathesis run`, e.g. --include-path /api/v1/journeys.
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
# The diet-check pathway (a journey that is only its diet stage) lets the
# diet routes be reached within seconds.
export PATHWAYS_DIR="$ROOT/internal/fuzzseed/pathways"
# The run outlasts a default access token, and its request rate is far above
# a person's: the general limits are lifted, and so is the SMS one per
# address (every role's run comes from one); the one per phone stays (its
# 429s are part of the contract).
export CAREPATH_AUTH_ACCESS_TTL=1h RATE_LIMIT_PER_IP=off RATE_LIMIT_PER_USER=off RATE_LIMIT_SMS_PER_IP=off
# A `make run` beside it serves metrics on the default addresses.
export METRICS_ADDR=off WORKER_METRICS_ADDR=off

pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ -n "${SCHEMATHESIS_KEEP:-}" ]; then echo "schemathesis: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
fail() {
	echo "schemathesis: $1" >&2
	for log in "$WORK"/*.log; do echo "--- $log" >&2; tail -n 40 "$log" >&2; done
	exit 1
}

START=$SECONDS
echo "==> schemathesis  API and worker on $BASE (task queue $TEMPORAL_TASK_QUEUE)"
"$CAREPATH" worker >"$WORK/worker.log" 2>&1 &
pids+=($!)
"$CAREPATH" api >"$WORK/api.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
	curl -fsS "$BASE/openapi.json" >/dev/null 2>&1 && break
	sleep 0.5
done
curl -fsS "$BASE/openapi.json" >"$WORK/openapi.json" || fail "the API did not come up on $BASE"

echo "==> schemathesis  seeding a world per role (internal/fuzzseed)"
(cd "$ROOT" && go run ./internal/fuzzseed -base "$BASE") >"$WORK/seed.json" 2>"$WORK/fuzzseed.log" ||
	fail "could not seed the roles' worlds"

ROLES="${SCHEMATHESIS_ROLES:-patient doctor dietitian coordinator integrator admin}"
echo "==> schemathesis  fuzzing $BASE/openapi.json as: $ROLES ($((SECONDS - START))s so far)"
declare -A runs
for role in $ROLES; do
	token="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["roles"][sys.argv[2]]["token"])' "$WORK/seed.json" "$role")" ||
		fail "no seeded $role"
	# From a scratch folder of its own: schemathesis keeps its example
	# database in ./.schemathesis.
	mkdir -p "$WORK/$role"
	(
		cd "$WORK/$role"
		export FUZZ_ROLE="$role" FUZZ_SEED_FILE="$WORK/seed.json" FUZZ_COUNTS="$WORK/$role/counts.json"
		export SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$ROOT/scripts" SCHEMATHESIS_SEED="${SCHEMATHESIS_SEED:-7}"
		exec "$ST" --no-color run "$WORK/openapi.json" --url "$BASE" \
			--checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance,response_headers_conformance \
			--header "Authorization: Bearer $token" \
			--phases examples,coverage,fuzzing,stateful \
			--max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-6}" --max-time "${SCHEMATHESIS_MAX_TIME:-270}" \
			--workers 1 --seed "${SCHEMATHESIS_SEED:-7}" --request-timeout 30 --suppress-health-check all "$@"
	) >"$WORK/$role/run.log" 2>&1 &
	runs[$role]=$!
	pids+=($!) # stopped by cleanup if the step fails before they end
done
failed=""
for role in $ROLES; do
	wait "${runs[$role]}" || failed="$failed $role"
done
for role in $failed; do
	echo "--- schemathesis as the $role:" >&2
	cat "$WORK/$role/run.log" >&2
done
echo "==> schemathesis  test cases per role"
for role in $ROLES; do
	printf '  %-12s %s\n' "$role" "$(awk '/^Test cases:/ { getline; sub(/^ +/, ""); print; exit }' "$WORK/$role/run.log")"
done
python3 "$ROOT/scripts/schemathesis_report.py" "$WORK/openapi.json" "$WORK"/*/counts.json || failed="$failed reach"
echo "==> schemathesis  took $((SECONDS - START))s"
[ -z "$failed" ] || fail "schemathesis found failures (above):$failed"
