#!/usr/bin/env bash
# The main job on a fresh machine, end to end: a real local Kafka broker, the topics, a generated
# transmission fed in, `pms-stream run` processing it exactly once, the statements arriving on
# the statements topic, a look at the metrics, and a clean stop of everything it started.
# Run through `make demo` (which installs first). Options by environment:
#   DEMO_STATEMENTS (default 24)  DEMO_SEED (default 1)  DEMO_HTTP_PORT (default 8080)
#   DEMO_KEEP=1 leaves the broker running afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${BIN:-.venv/bin}
STATEMENTS=${DEMO_STATEMENTS:-24}
SEED=${DEMO_SEED:-1}
PORT=${DEMO_HTTP_PORT:-8080}
WORK=.demo
mkdir -p "$WORK"
export PMS_HTTP_PORT=$PORT PMS_LOG_FORMAT=json PMS_TOPIC_PARTITIONS=3
export PMS_GROUP_ID="pms-demo-$$"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

service_pid=""
started_broker=""
cleanup() {
    if [[ -n $service_pid ]] && kill -0 "$service_pid" 2>/dev/null; then
        say "stopping pms-stream (SIGTERM)"
        kill -TERM "$service_pid"
        wait "$service_pid" && echo "pms-stream stopped cleanly" || echo "pms-stream exit status $?"
    fi
    if [[ -n $started_broker && ${DEMO_KEEP:-0} != 1 ]]; then
        say "stopping the local broker"
        deploy/kafka/broker.sh down
    fi
}
trap cleanup EXIT

say "local Kafka broker"
if deploy/kafka/broker.sh status >/dev/null 2>&1; then
    echo "already running"
else
    deploy/kafka/broker.sh up
    started_broker=1
fi

say "generating $STATEMENTS statements (seed $SEED) into $WORK/records.txt"
"$BIN/pms-stream" generate --statements "$STATEMENTS" --seed "$SEED" -o "$WORK/records.txt"
wc -l < "$WORK/records.txt" | xargs echo "records:"

say "starting pms-stream run (exactly once; log in $WORK/service.log)"
"$BIN/pms-stream" run >"$WORK/service.log" 2>&1 &
service_pid=$!
for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$service_pid" 2>/dev/null; then
        echo "pms-stream exited early:"; tail -20 "$WORK/service.log"; exit 1
    fi
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/readyz"

say "sending the records to the input topic"
"$BIN/pms-stream" send "$WORK/records.txt" --pack 20

say "statements arriving on the statements topic (read_committed)"
"$BIN/pms-stream" tail --idle 5 > "$WORK/statements.jsonl"
"$BIN/python" - "$WORK/statements.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f"{'statement':<12}{'status':<13}{'filer':<7}{'daily':>6}{'amount due':>16}  checks")
for s in rows:
    totals = s["final_totals"] or s["preliminary_totals"]
    checks = ",".join(c["code"] for c in s["checks"]) or "-"
    print(f"{s['statement_number']:<12}{s['status']:<13}{s['filer_code']:<7}"
          f"{len(s['daily_statements']):>6}{totals['amount_due']:>16}  {checks}")
print(f"{len(rows)} statements")
PY

say "metrics (http://127.0.0.1:$PORT/metrics)"
curl -fsS "http://127.0.0.1:$PORT/metrics" | grep -E '^pms_(statements_total|rejects_total|transactions_total|records_total\{outcome="accepted",record_type="Q1"\})' || true
