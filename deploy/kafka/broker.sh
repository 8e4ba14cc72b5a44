#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, broker + controller in one JVM) for development
# and tests, assembled from Maven Central jars: no Docker, no release tarball.
#
#   deploy/kafka/broker.sh fetch        gather the broker jars into the cache (once; needs mvn)
#   deploy/kafka/broker.sh up           format fresh storage, start, wait until ready (no-op if up)
#   deploy/kafka/broker.sh down         stop the broker this script started (its recorded pid only)
#   deploy/kafka/broker.sh status       exit 0 if running and answering, 1 if not
#   deploy/kafka/broker.sh logs [ARGS]  tail the broker log (ARGS go to tail, default -n 100)
#
# Environment (see docs/local-broker.md):
#   KAFKA_PORT               client (PLAINTEXT) port on 127.0.0.1, default 9092
#   KAFKA_CONTROLLER_PORT    KRaft controller port on 127.0.0.1, default 9093
#   PMS_KAFKA_CACHE          jar cache root, default $HOME/.cache/pms-stream;
#                            jars go to $PMS_KAFKA_CACHE/kafka-<version>/lib
#   PMS_KAFKA_STATE_DIR      config, data, log and pid file, default <repo>/.kafka
#   PMS_KAFKA_JVM_OPTS       JVM flags, default a small test JVM (512m heap, serial GC, C1 only)
#   PMS_KAFKA_START_TIMEOUT  seconds `up` waits for readiness, default 90
#   PMS_KAFKA_STOP_TIMEOUT   seconds `down` waits after SIGTERM before SIGKILL, default 30
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
POM="$HERE/pom.xml"

KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
[[ -n "$KAFKA_VERSION" ]] || { echo "broker.sh: no <kafka.version> in $POM" >&2; exit 1; }

CACHE_ROOT=${PMS_KAFKA_CACHE:-${HOME:?HOME is not set}/.cache/pms-stream}
LIB="$CACHE_ROOT/kafka-$KAFKA_VERSION/lib"
MARKER="$LIB/.complete"

STATE=${PMS_KAFKA_STATE_DIR:-$REPO/.kafka}
PORT=${KAFKA_PORT:-9092}
CPORT=${KAFKA_CONTROLLER_PORT:-9093}
HOST=127.0.0.1
PIDFILE="$STATE/broker.pid"
LOG="$STATE/broker.log"
START_TIMEOUT=${PMS_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${PMS_KAFKA_STOP_TIMEOUT:-30}
JVM_OPTS=${PMS_KAFKA_JVM_OPTS:--Xms512m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java

say() { echo "broker.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# The marker holds the pom's checksum, so editing the pom (a new version or a new jar) refetches.
pom_sum() { sha256sum "$POM" | cut -d' ' -f1; }
cache_complete() { [[ -f "$MARKER" && "$(cat "$MARKER")" == "$(pom_sum)" ]]; }

cmd_fetch() {
    if cache_complete; then
        say "Kafka $KAFKA_VERSION jars cached in $LIB"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven)"
    say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIB"
    mkdir -p "$(dirname "$LIB")"
    local tmp="$LIB.tmp.$$"
    rm -rf "$tmp"
    # mvn's output is shown only when it fails (-q still prints stray colour codes).
    if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
        cat "$tmp.log" >&2
        rm -rf "$tmp" "$tmp.log"
        die "mvn could not gather the broker jars (see above)"
    fi
    rm -f "$tmp.log"
    ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka_2.13 jar missing after mvn"
    rm -rf "$LIB"
    mv "$tmp" "$LIB"
    pom_sum >"$MARKER"
    say "$(find "$LIB" -name '*.jar' | wc -l) jars in $LIB"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# The recorded pid, if that process is alive and is a Kafka broker (guards against pid reuse).
running_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid=$(cat "$PIDFILE")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    # -ww: without it ps cuts the (long) java command line at 80 columns when not on a terminal.
    ps -ww -p "$pid" -o args= 2>/dev/null | grep -q ' kafka\.Kafka ' || return 1
    echo "$pid"
}

# 16 random bytes, URL-safe base64 without padding, not starting with '-' (StorageTool's rule).
new_cluster_id() {
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
        [[ "$id" != -* ]] && { echo "$id"; return; }
    done
}

write_config() {
    cat >"$STATE/config/server.properties" <<EOF
# Written by deploy/kafka/broker.sh: single-node KRaft broker for development and tests.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$CPORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CPORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CPORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$STATE/data

# One node: replication 1 everywhere.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Fast tests: no join delay, one partition for the internal topics, a cleaner that fits the heap.
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
log.cleaner.dedupe.buffer.size=8388608
log.cleaner.backoff.ms=1000
num.partitions=1
num.network.threads=2
num.io.threads=4

# Topics are created explicitly, as in production (tests use uuid-named topics).
auto.create.topics.enable=false
EOF
    cat >"$STATE/config/log4j2.properties" <<'EOF'
# Written by deploy/kafka/broker.sh: everything to stdout, which broker.sh sends to broker.log.
status = warn
name = pms-stream-kafka
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = INFO
EOF
}

log_tail() {
    say "last lines of $LOG:"
    tail -n "${1:-40}" "$LOG" >&2 2>/dev/null || true
}

# Sends TERM, waits, then KILL; returns once the process is gone.
stop_pid() {
    local pid=$1 waited=0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited >= STOP_TIMEOUT * 10)); then
            say "pid $pid still alive after ${STOP_TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

# Waits until the log says the server started and the client port accepts connections.
wait_ready() {
    local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
    until grep -q 'Kafka Server started' "$LOG" 2>/dev/null && port_open "$PORT"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log_tail 60
            rm -f "$PIDFILE"
            die "the broker (pid $pid) exited before it was ready"
        fi
        if ((SECONDS >= deadline)); then
            log_tail 60
            stop_pid "$pid"
            rm -f "$PIDFILE"
            die "the broker was not ready within ${START_TIMEOUT}s; stopped pid $pid"
        fi
        sleep 0.2
    done
}

cmd_up() {
    local t0=$EPOCHREALTIME pid
    mkdir -p "$STATE"
    exec 9>"$STATE/lock"
    flock 9
    if pid=$(running_pid); then
        wait_ready "$pid"
        say "Kafka already running on $HOST:$PORT (pid $pid)"
        return 0
    fi
    rm -f "$PIDFILE"
    for p in "$PORT" "$CPORT"; do
        port_open "$p" && die "port $p is in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
    done
    cmd_fetch
    command -v "$JAVA" >/dev/null || die "java not found: install a JDK 17+"

    rm -rf "$STATE/data" "$STATE/config" "$STATE/logs" "$LOG"
    mkdir -p "$STATE/data" "$STATE/config" "$STATE/logs"
    write_config
    local cluster_id cp="$LIB/*" log4j="-Dlog4j2.configurationFile=$STATE/config/log4j2.properties"
    cluster_id=$(new_cluster_id)
    if ! "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "$log4j" -cp "$cp" \
            kafka.tools.StorageTool format --standalone --cluster-id "$cluster_id" \
            --config "$STATE/config/server.properties" >"$STATE/format.log" 2>&1 9>&-; then
        cat "$STATE/format.log" >&2
        die "formatting KRaft storage failed"
    fi

    # setsid: the broker outlives this shell and a Ctrl-C in the terminal that ran `up`; the
    # child writes its own pid (then execs java), so the pid file names the JVM itself.
    # SC2086: the JVM flags are a word list. SC2016: $$ is the child's pid, expanded by the child.
    # shellcheck disable=SC2086,SC2016
    setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$PIDFILE" \
        "$JAVA" $JVM_OPTS "$log4j" "-Dkafka.logs.dir=$STATE/logs" -cp "$cp" \
        kafka.Kafka "$STATE/config/server.properties" \
        </dev/null >"$LOG" 2>&1 9>&- &
    local waited=0
    until [[ -s "$PIDFILE" ]]; do
        ((waited++ < 50)) || die "the broker did not record its pid"
        sleep 0.1
    done
    pid=$(cat "$PIDFILE")
    wait_ready "$pid"
    local elapsed
    elapsed=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    say "Kafka $KAFKA_VERSION ready on $HOST:$PORT (pid $pid, cluster $cluster_id) in ${elapsed}s"
}

cmd_down() {
    mkdir -p "$STATE"
    exec 9>"$STATE/lock"
    flock 9
    local pid
    if ! pid=$(running_pid); then
        rm -f "$PIDFILE"
        say "no broker recorded in $PIDFILE: nothing to stop"
        return 0
    fi
    local t0=$EPOCHREALTIME
    stop_pid "$pid"
    rm -f "$PIDFILE"
    say "stopped Kafka (pid $pid) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
}

cmd_status() {
    local pid
    if pid=$(running_pid) && port_open "$PORT"; then
        echo "running: Kafka $KAFKA_VERSION on $HOST:$PORT (pid $pid), state in $STATE"
        return 0
    fi
    if [[ -n "${pid:-}" ]]; then
        echo "starting or unhealthy: pid $pid, port $PORT not answering"
    else
        echo "not running (state dir $STATE)"
    fi
    return 1
}

cmd_logs() {
    [[ -f "$LOG" ]] || die "no broker log at $LOG"
    if (($# == 0)); then set -- -n 100; fi
    tail "$@" "$LOG"
}

case "${1:-}" in
    fetch) cmd_fetch ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    logs) shift; cmd_logs "$@" ;;
    *)
        sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
        exit 2
        ;;
esac
