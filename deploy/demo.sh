#!/usr/bin/env bash
# The main job on a fresh machine, end to end: a real local Kafka broker, the topics, a generated
# transmission fed in, `pms-stream run` processing it exactly once, the statements arriving on
# the statements topic, a look at the metrics, and a clean stop of everything it started.
# Run through `make demo` (which installs first). Options by environment:
#   DEMO_STATEMENTS (default 24)  DEMO_SEED (default 1)  DEMO_HTTP_PORT (default 8080)
#   KAFKA_PORT (default 9092; KAFKA_HOST default 127.0.0.1): the broker used, started there
#   (deploy/kafka/broker.sh) when nothing answers on that port.
#   DEMO_KEEP=1 leaves the broker and the run's topics afterwards.
# Each run has topics of its own (pms-demo-<pid>-<time>.*), so a broker that already holds data
# (another run's statements) shows only this run's; they are deleted at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${BIN:-.venv/bin}
STATEMENTS=${DEMO_STATEMENTS:-24}
SEED=${DEMO_SEED:-1}
PORT=${DEMO_HTTP_PORT:-8080}
KAFKA_HOST=${KAFKA_HOST:-127.0.0.1}
KAFKA_PORT=${KAFKA_PORT:-9092}
export KAFKA_PORT
WORK=.demo
mkdir -p "$WORK"
RUN="pms-demo-$$-$(date +%s)"
export PMS_HTTP_PORT=$PORT PMS_LOG_FORMAT=json PMS_TOPIC_PARTITIONS=3
export PMS_BOOTSTRAP_SERVERS="$KAFKA_HOST:$KAFKA_PORT" PMS_GROUP_ID="$RUN"
export PMS_INPUT_TOPIC="$RUN.records" PMS_STATEMENTS_TOPIC="$RUN.statements" \
    PMS_REROUTE_ACKS_TOPIC="$RUN.reroute-acks" PMS_REJECTS_TOPIC="$RUN.rejects" \
    PMS_METRICS_TOPIC="$RUN.metrics"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

service_pid=""
started_broker=""
cleanup() {
    if [[ -n $service_pid ]] && kill -0 "$service_pid" 2>/dev/null; then
        say "stopping pms-stream (SIGTERM)"
        kill -TERM "$service_pid"
        wait "$service_pid" && echo "pms-stream stopped cleanly" || echo "pms-stream exit status $?"
    fi
    if [[ ${DEMO_KEEP:-0} != 1 ]] && kafka_answers; then
        "$BIN/python" - "$PMS_BOOTSTRAP_SERVERS" "$RUN" <<'PY' || true
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient
async def main(servers: str, run: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(run + ".")]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()
asyncio.run(main(*sys.argv[1:]))
PY
    fi
    if [[ -n $started_broker && ${DEMO_KEEP:-0} != 1 ]]; then
        say "stopping the local broker"
        deploy/kafka/broker.sh down
    fi
}
trap cleanup EXIT

kafka_answers() { (exec 3<>"/dev/tcp/$KAFKA_HOST/$KAFKA_PORT") 2>/dev/null; }

say "Kafka broker at $KAFKA_HOST:$KAFKA_PORT"
if kafka_answers; then
    echo "already running (this run's topics: $RUN.*)"
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
