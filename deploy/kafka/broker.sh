#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, broker + controller in one JVM) for development
# and tests, assembled from Maven Central jars: no Docker, no release tarball.
#
#   deploy/kafka/broker.sh fetch        gather the broker jars into the cache (once; needs mvn)
#   deploy/kafka/broker.sh up           format fresh storage, start, wait until ready (no-op if up)
#   deploy/kafka/broker.sh down         stop the broker this script started (its recorded pid only)
#   deploy/kafka/broker.sh restart      stop it and start it again on the same data (DOWN_SECONDS)
#   deploy/kafka/broker.sh status       exit 0 if running and answering, 1 if not
#   deploy/kafka/broker.sh logs [ARGS]  tail the broker log (ARGS go to tail, default -n 100)
#   deploy/kafka/broker.sh env          print the running broker's listeners, SCRAM user, password
#                                       file and CA file as KEY=VALUE lines (exit 1 if not running)
#
# Besides PLAINTEXT the broker listens with SASL_PLAINTEXT and SASL_SSL (SCRAM-SHA-256 and
# SCRAM-SHA-512). Each `up` creates the SCRAM user `pms` with a new random password (in
# <state>/security/pms.password, mode 600) and, with openssl, a new CA and broker certificate
# (<state>/security/ca.pem for clients); without openssl there is no SASL_SSL listener.
# The broker runs Kafka's StandardAuthorizer open to all (allow.everyone.if.no.acl.found), with
# one exception for the authorization tests: SCRAM user `pms-denied` (password in
# <state>/security/pms-denied.password) may not use topics or groups named `pms-denied.*` and may
# not write topics named `pms-readonly.*` (ACLs made by deploy/kafka/acls.py, which needs python3).
#
# Environment (see docs/local-broker.md):
#   KAFKA_PORT               client (PLAINTEXT) port on 127.0.0.1, default 9092
#   KAFKA_CONTROLLER_PORT    KRaft controller port on 127.0.0.1, default 9093
#   KAFKA_SASL_PORT          SASL_PLAINTEXT (SCRAM) port on 127.0.0.1, default 9094
#   KAFKA_SASL_SSL_PORT      SASL_SSL (SCRAM over TLS) port on 127.0.0.1, default 9095
#   PMS_KAFKA_CACHE          jar cache root, default $HOME/.cache/pms-stream;
#                            jars go to $PMS_KAFKA_CACHE/kafka-<version>/lib
#   PMS_KAFKA_STATE_DIR      config, data, log and pid file, default <repo>/.kafka
#   PMS_KAFKA_JVM_OPTS       JVM flags, default a small test JVM (512m heap, serial GC, C1 only)
#   PMS_KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS  the broker's group.initial.rebalance.delay.ms,
#                            default 0 (tests); Kafka's own default, 3000, for scale-out benchmarks
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
SASL_PORT=${KAFKA_SASL_PORT:-9094}
SASL_SSL_PORT=${KAFKA_SASL_SSL_PORT:-9095}
HOST=127.0.0.1
PIDFILE="$STATE/broker.pid"
LOG="$STATE/broker.log"
# SCRAM user, password, CA and broker key; `env` reads what `up` recorded in ENVFILE.
SECURITY="$STATE/security"
ENVFILE="$STATE/broker.env"
SCRAM_USER=pms
# The user the ACLs deny (acls.py): topics and groups DENIED_PREFIX*, writes to READONLY_PREFIX*.
DENIED_USER=pms-denied
DENIED_PREFIX=pms-denied.
READONLY_PREFIX=pms-readonly.
SCRAM_MECHANISMS=(SCRAM-SHA-256 SCRAM-SHA-512)
CERT_DAYS=30
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

# The listeners besides CONTROLLER: PLAINTEXT and SASL_PLAINTEXT always, SASL_SSL with a keystore.
client_listeners() {
    local out="PLAINTEXT://$HOST:$PORT,SASL_PLAINTEXT://$HOST:$SASL_PORT"
    [[ -f "$SECURITY/broker-keystore.pem" ]] && out+=",SASL_SSL://$HOST:$SASL_SSL_PORT"
    echo "$out"
}

write_config() {
    local clients jaas=org.apache.kafka.common.security.scram.ScramLoginModule
    clients=$(client_listeners)
    cat >"$STATE/config/server.properties" <<EOF
# Written by deploy/kafka/broker.sh: single-node KRaft broker for development and tests.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$CPORT
listeners=$clients,CONTROLLER://$HOST:$CPORT
advertised.listeners=$clients,CONTROLLER://$HOST:$CPORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=$STATE/data

# SCRAM on the SASL listeners; the users are created at format time (StorageTool --add-scram).
# Inter-broker and controller traffic stays PLAINTEXT.
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$jaas required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$jaas required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$jaas required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$jaas required;
# TLS on SASL_SSL: unencrypted PKCS#8 key and certificate in one PEM file; no client certificates.
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$SECURITY/broker-keystore.pem

# ACLs (KRaft's StandardAuthorizer, ACLs in the metadata log): a resource without any ACL is open
# to everyone; ACLs exist only for user $DENIED_USER (deploy/kafka/acls.py). The PLAINTEXT
# listeners (client, inter-broker, controller) authenticate nobody, so their principal,
# User:ANONYMOUS, is a super user: the broker and controller talk to each other, and the tests
# create topics and ACLs, whatever ACL exists.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=true
super.users=User:ANONYMOUS

# One node: replication 1 everywhere.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Fast tests: no join delay, one partition for the internal topics, a cleaner that fits the heap.
group.initial.rebalance.delay.ms=${PMS_KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS:-0}
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

# 24 random letters and digits: no character that StorageTool's --add-scram syntax ("[...,...]")
# or SCRAM (",", "=") would need escaped.
new_password() {
    head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24
}

# A CA (ca.pem, for clients) and a broker certificate for 127.0.0.1 and localhost signed by it,
# stored with its key as the broker's PEM keystore. The CA key is deleted once it has signed.
# Returns 1 (no SASL_SSL listener) when openssl is missing.
make_certs() {
    local dir=$SECURITY
    if ! command -v openssl >/dev/null; then
        say "openssl not found: no SASL_SSL listener on port $SASL_SSL_PORT"
        return 1
    fi
    cat >"$dir/broker.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    # EC P-256 keys: generated in milliseconds (RSA 2048 takes up to a second on these machines).
    if ! {
        openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
            -keyout "$dir/ca.key" -out "$dir/ca.pem" -days "$CERT_DAYS" \
            -subj "/CN=pms-stream local test CA $(date -u +%Y%m%dT%H%M%SZ)" \
            -addext 'basicConstraints=critical,CA:TRUE' \
            -addext 'keyUsage=critical,keyCertSign,cRLSign' \
            -addext 'subjectKeyIdentifier=hash' &&
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
            -keyout "$dir/broker.key" -out "$dir/broker.csr" -subj /CN=localhost &&
        openssl x509 -req -in "$dir/broker.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
            -set_serial "0x$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
            -days "$CERT_DAYS" -extfile "$dir/broker.ext" -out "$dir/broker.pem"
    } >"$dir/openssl.log" 2>&1; then
        cat "$dir/openssl.log" >&2
        die "generating the TLS certificates with openssl failed"
    fi
    (umask 077; cat "$dir/broker.key" "$dir/broker.pem" >"$dir/broker-keystore.pem")
    rm -f "$dir/ca.key" "$dir/broker.key" "$dir/broker.csr" "$dir/broker.ext" "$dir/openssl.log"
}

# What `env` prints, recorded at `up` for the broker it starts (%q: a shell can source it).
write_envfile() {
    {
        printf 'PMS_KAFKA_BOOTSTRAP_SERVERS=%q\n' "$HOST:$PORT"
        printf 'PMS_KAFKA_SASL_PLAINTEXT_BOOTSTRAP_SERVERS=%q\n' "$HOST:$SASL_PORT"
        if [[ -f "$SECURITY/broker-keystore.pem" ]]; then
            printf 'PMS_KAFKA_SASL_SSL_BOOTSTRAP_SERVERS=%q\n' "$HOST:$SASL_SSL_PORT"
            printf 'PMS_KAFKA_SSL_CAFILE=%q\n' "$SECURITY/ca.pem"
        fi
        printf 'PMS_KAFKA_SASL_MECHANISMS=%s\n' "$(IFS=,; echo "${SCRAM_MECHANISMS[*]}")"
        printf 'PMS_KAFKA_SASL_USERNAME=%s\n' "$SCRAM_USER"
        printf 'PMS_KAFKA_SASL_PASSWORD_FILE=%q\n' "$SECURITY/$SCRAM_USER.password"
        printf 'PMS_KAFKA_DENIED_USERNAME=%s\n' "$DENIED_USER"
        printf 'PMS_KAFKA_DENIED_PASSWORD_FILE=%q\n' "$SECURITY/$DENIED_USER.password"
        printf 'PMS_KAFKA_DENIED_PREFIX=%s\n' "$DENIED_PREFIX"
        printf 'PMS_KAFKA_READONLY_PREFIX=%s\n' "$READONLY_PREFIX"
    } >"$ENVFILE"
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
    for p in "$PORT" "$CPORT" "$SASL_PORT" "$SASL_SSL_PORT"; do
        port_open "$p" && die "port $p is in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_SASL_PORT / KAFKA_SASL_SSL_PORT)"
    done
    cmd_fetch
    command -v "$JAVA" >/dev/null || die "java not found: install a JDK 17+"
    command -v python3 >/dev/null || die "python3 not found: it creates the broker's ACLs (acls.py)"

    rm -rf "$STATE/data" "$STATE/config" "$STATE/logs" "$STATE/security" "$LOG" "$ENVFILE"
    mkdir -p "$STATE/data" "$STATE/config" "$STATE/logs"
    mkdir -m 700 "$SECURITY"
    # Each password file is created 600 before the password is written into it.
    local user password scram=() mechanism
    for user in "$SCRAM_USER" "$DENIED_USER"; do
        password=$(new_password)
        (umask 077; printf '%s\n' "$password" >"$SECURITY/$user.password")
        for mechanism in "${SCRAM_MECHANISMS[@]}"; do
            scram+=(--add-scram "$mechanism=[name=$user,password=$password]")
        done
    done
    make_certs || true
    write_config
    local cluster_id cp="$LIB/*" log4j="-Dlog4j2.configurationFile=$STATE/config/log4j2.properties"
    cluster_id=$(new_cluster_id)
    # format.log lists the SCRAM credential records (salted hashes, not the password): mode 600.
    if ! (umask 077; exec "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "$log4j" \
            -cp "$cp" kafka.tools.StorageTool format --standalone --cluster-id "$cluster_id" \
            "${scram[@]}" --config "$STATE/config/server.properties" \
            >"$STATE/format.log" 2>&1 9>&-); then
        cat "$STATE/format.log" >&2
        die "formatting KRaft storage failed"
    fi
    start_jvm
    pid=$(cat "$PIDFILE")
    # The ACLs go into the metadata log (they survive `restart`); `env` names the denied user
    # only once they exist.
    if ! python3 "$HERE/acls.py" "$HOST:$PORT" "$DENIED_USER" "$DENIED_PREFIX" "$READONLY_PREFIX"; then
        stop_pid "$pid"
        rm -f "$PIDFILE"
        die "creating the ACLs failed; stopped pid $pid"
    fi
    write_envfile
    local elapsed
    elapsed=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    local extra="SASL_PLAINTEXT $HOST:$SASL_PORT"
    [[ -f "$SECURITY/broker-keystore.pem" ]] && extra+=", SASL_SSL $HOST:$SASL_SSL_PORT"
    say "Kafka $KAFKA_VERSION ready on $HOST:$PORT ($extra; pid $pid, cluster $cluster_id) in ${elapsed}s"
}

# Start the broker JVM on the formatted state and wait until it is ready.
start_jvm() {
    local cp="$LIB/*" log4j="-Dlog4j2.configurationFile=$STATE/config/log4j2.properties" pid
    # setsid: the broker outlives this shell and a Ctrl-C in the terminal that ran `up`; the
    # child writes its own pid (then execs java), so the pid file names the JVM itself.
    # SC2086: the JVM flags are a word list. SC2016: $$ is the child's pid, expanded by the child.
    # shellcheck disable=SC2086,SC2016
    setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$PIDFILE" \
        "$JAVA" $JVM_OPTS "$log4j" "-Dkafka.logs.dir=$STATE/logs" -cp "$cp" \
        kafka.Kafka "$STATE/config/server.properties" \
        </dev/null >>"$LOG" 2>&1 9>&- &
    local waited=0
    until [[ -s "$PIDFILE" ]]; do
        ((waited++ < 50)) || die "the broker did not record its pid"
        sleep 0.1
    done
    pid=$(cat "$PIDFILE")
    wait_ready "$pid"
}

# Stop the running broker and start it again on the same data (topics, offsets, transactions
# and users survive): for tests of clients living through a broker restart. DOWN_SECONDS (default
# 0) keeps it down that long in between.
cmd_restart() {
    mkdir -p "$STATE"
    exec 9>"$STATE/lock"
    flock 9
    local pid t0=$EPOCHREALTIME
    pid=$(running_pid) || die "no broker running to restart (use up)"
    stop_pid "$pid"
    rm -f "$PIDFILE"
    mv -f "$LOG" "$LOG.previous"  # wait_ready looks for this start's "Kafka Server started"
    sleep "${DOWN_SECONDS:-0}"
    start_jvm
    say "restarted Kafka (pid $(cat "$PIDFILE")) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
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

cmd_env() {
    running_pid >/dev/null || die "no broker running (state dir $STATE): run \`$0 up\`"
    [[ -f "$ENVFILE" ]] || die "the running broker was started without SASL listeners (by an older broker.sh): restart it with \`$0 down && $0 up\`"
    cat "$ENVFILE"
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
    env) cmd_env ;;
    restart) cmd_restart ;;
    *)
        sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
        exit 2
        ;;
esac
