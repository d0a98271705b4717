#!/usr/bin/env bash
# LAN test: three real `neiqin serve` processes on a LAN made of network namespaces find each
# other by mDNS alone (no static peers), sync an order, keep working while one of them is cut
# off, and converge once the link is back.
#
#   nq-br-PID   holds bridge br0 and the bridge side of every link (va, vb, vc)
#   nq-a-PID    lan0 10.77.0.1/24   node-a (clerk)     API 127.0.0.1:7780, peers 0.0.0.0:7781
#   nq-b-PID    lan0 10.77.0.2/24   node-b (warehouse)
#   nq-c-PID    lan0 10.77.0.3/24   node-c (finance)
#
# Needs root (network namespaces), iproute2, curl and python3. Every node runs with mDNS on,
# so every node runs inside its own namespace: no multicast ever reaches the host's interfaces.
# Everything it creates (namespaces, processes, temp dir) is removed on exit.
#
# Environment: NEIQIN_BIN (binary to test), NEIQIN_LAN_KEEP=1 (keep the temp dir with logs),
# NEIQIN_LAN_CUT=down (default: the bridge port of node-c goes down, so node-c's lan0 loses
# carrier) or detach (the port leaves the bridge but stays up, so node-c's lan0 stays up, as
# when a cable is pulled further away from the machine).
# Output ends with one line `N passed, M failed`; exit status 0 only if nothing failed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

T0=$(date +%s)
say() { printf 'lan-test [%3ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

# --- binary ---------------------------------------------------------------------------------
if [[ -n "${NEIQIN_BIN:-}" ]]; then
    BIN=$NEIQIN_BIN
elif [[ -x target/release/neiqin ]]; then
    BIN=$ROOT/target/release/neiqin
elif [[ -x target/debug/neiqin ]]; then
    BIN=$ROOT/target/debug/neiqin
else
    say "no binary found; cargo build --release"
    cargo build --release
    BIN=$ROOT/target/release/neiqin
fi
[[ -x "$BIN" ]] || { echo "lan-test: $BIN is not an executable" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

CUT=${NEIQIN_LAN_CUT:-down}
case "$CUT" in
    down | detach) ;;
    *) echo "lan-test: NEIQIN_LAN_CUT must be down or detach, not $CUT" >&2; exit 2 ;;
esac
for tool in ip curl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "lan-test: $tool is required" >&2; exit 2; }
done
if [[ $(id -u) -ne 0 ]]; then
    echo "lan-test: must run as root (it creates network namespaces)" >&2
    exit 2
fi

# --- state and cleanup ----------------------------------------------------------------------
NODES=(a b c)
NS_BR=nq-br-$$
declare -A NS=([a]=nq-a-$$ [b]=nq-b-$$ [c]=nq-c-$$)
declare -A IP=([a]=10.77.0.1 [b]=10.77.0.2 [c]=10.77.0.3)
declare -A ROLE=([a]=clerk [b]=warehouse [c]=finance)
declare -A PID=()
declare -A ADMIN=()
declare -A TOKEN=()
CREATED_NS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/neiqin-lan.XXXXXX")
PASSED=0
FAILED=0
SUMMARY_DONE=

cleanup() {
    local rc=$?
    set +e
    if [[ $rc -ne 0 && -z "$SUMMARY_DONE" ]]; then
        # Ended by an unexpected error or a signal, not by `fail`.
        FAILED=$((FAILED + 1))
        echo "lan-test: stopped unexpectedly (status $rc)"
        show_logs
        summary
    fi
    for n in "${!PID[@]}"; do
        kill -INT "${PID[$n]}" 2>/dev/null
    done
    for n in "${!PID[@]}"; do
        # `serve` stops on SIGINT; give it 5 s, then SIGKILL that PID only.
        for _ in $(seq 50); do
            kill -0 "${PID[$n]}" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "${PID[$n]}" 2>/dev/null
        wait "${PID[$n]}" 2>/dev/null
    done
    # Deleting a namespace deletes the veth ends in it, and with them their peers.
    for ns in "${CREATED_NS[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    if [[ "${NEIQIN_LAN_KEEP:-}" == 1 ]]; then
        echo "lan-test: kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() {
    for n in "${NODES[@]}"; do
        local log=$WORK/node-$n.log
        [[ -f "$log" ]] || continue
        echo "----- node-$n ($log): last 40 lines above DEBUG -----"
        grep -v ' DEBUG ' "$log" | tail -n 40
        echo "----- node-$n: last 15 lines -----"
        tail -n 15 "$log"
    done
    echo "-----"
}

summary() {
    SUMMARY_DONE=1
    echo "$PASSED passed, $FAILED failed"
}

pass() { PASSED=$((PASSED + 1)); say "PASS: $*"; }

# A failed check ends the run: later checks depend on earlier ones.
fail() {
    FAILED=$((FAILED + 1))
    say "FAIL: $*"
    show_logs
    summary
    exit 1
}

# --- helpers --------------------------------------------------------------------------------
# req NODE TOKEN METHOD PATH [JSON]: sets CODE and BODY. Runs curl inside the node's namespace.
CODE=000
BODY=
req() {
    local node=$1 token=$2 method=$3 path=$4 data=${5-}
    local args=(-s --max-time 10 -X "$method" -H "Authorization: Bearer $token" -w '\n%{http_code}')
    if [[ -n "$data" ]]; then
        args+=(-H 'content-type: application/json' --data-binary "$data")
    fi
    local out
    out=$(ip netns exec "${NS[$node]}" curl "${args[@]}" "http://127.0.0.1:7780$path") || out=$'\n000'
    CODE=${out##*$'\n'}
    BODY=${out%$'\n'*}
}

# json EXPR: evaluates a Python expression over the JSON document `d` read from stdin.
json() {
    python3 -c 'import sys, json
d = json.loads(sys.stdin.read())
v = eval(sys.argv[1])
print(v if not isinstance(v, (dict, list)) else json.dumps(v, ensure_ascii=False))' "$1"
}

# expect NODE TOKEN METHOD PATH [JSON]: like req, but a non-2xx answer fails the run.
expect() {
    req "$@"
    if [[ ! "$CODE" =~ ^2 ]]; then
        fail "$3 $4 on node-$1 answered $CODE: $BODY"
    fi
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.5 s until it succeeds.
wait_until() {
    local limit=$1 what=$2
    shift 2
    local deadline=$(( $(date +%s) + limit ))
    while (( $(date +%s) < deadline )); do
        if "$@"; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

# --- the LAN --------------------------------------------------------------------------------
say "binary $BIN; work dir $WORK"
ip netns add "$NS_BR"
CREATED_NS+=("$NS_BR")
ip -n "$NS_BR" link set lo up
ip -n "$NS_BR" link add br0 type bridge
# No IGMP snooping: the bridge floods multicast like a plain office switch.
ip -n "$NS_BR" link set br0 type bridge mcast_snooping 0
ip -n "$NS_BR" link set br0 up
for n in "${NODES[@]}"; do
    ns=${NS[$n]}
    ip netns add "$ns"
    CREATED_NS+=("$ns")
    ip -n "$ns" link set lo up
    # Created inside the bridge namespace, the other end placed straight into the node's.
    ip -n "$NS_BR" link add "v$n" type veth peer name lan0 netns "$ns"
    ip -n "$NS_BR" link set "v$n" master br0
    ip -n "$NS_BR" link set "v$n" up
    ip -n "$ns" addr add "${IP[$n]}/24" dev lan0
    ip -n "$ns" link set lan0 multicast on
    ip -n "$ns" link set lan0 up
    ip -n "$ns" route add 224.0.0.0/4 dev lan0
done
# The LAN works before any node starts: unicast across the bridge.
for n in b c; do
    if ! ip netns exec "${NS[a]}" ping -c 1 -W 2 "${IP[$n]}" >/dev/null 2>&1; then
        # ping may be missing; the sync checks below will tell anyway.
        command -v ping >/dev/null 2>&1 && fail "node-a's namespace cannot reach ${IP[$n]}"
    fi
done
say "LAN up: bridge in $NS_BR, nodes in ${NS[a]} ${NS[b]} ${NS[c]}"

# --- nodes ----------------------------------------------------------------------------------
for n in "${NODES[@]}"; do
    mkdir -p "$WORK/$n"
done
# node-a makes the company's cluster CA; b and c join: a request each, approved on node-a,
# installed. Every node may hold users of every role here (the test adds a clerk everywhere).
ALL_ROLES=office,warehouse,finance
"$BIN" init --data "$WORK/a/data" --name node-a --role "${ROLE[a]}" --roles "$ALL_ROLES" \
    >"$WORK/init-a.log" 2>&1 || { cat "$WORK/init-a.log"; fail "init node-a"; }
for n in b c; do
    { "$BIN" init --data "$WORK/$n/data" --name "node-$n" --role "${ROLE[$n]}" --join \
        && "$BIN" node approve --data "$WORK/a/data" "$WORK/$n/data/node.csr" --roles "$ALL_ROLES" \
            --out "$WORK/$n.crt" \
        && "$BIN" node install --data "$WORK/$n/data" "$WORK/$n.crt"; } \
        >"$WORK/init-$n.log" 2>&1 || { cat "$WORK/init-$n.log"; fail "join node-$n"; }
done

for n in "${NODES[@]}"; do
    NO_COLOR=1 NEIQIN_LOG=${NEIQIN_LOG:-info,neiqin=debug} ip netns exec "${NS[$n]}" \
        "$BIN" serve --data "$WORK/$n/data" --listen 127.0.0.1:7780 --peer-listen 0.0.0.0:7781 \
        >"$WORK/node-$n.log" 2>&1 </dev/null &
    PID[$n]=$!   # `ip netns exec` execs the command: this is the node's own PID
    ADMIN[$n]=$(tr -d '[:space:]' <"$WORK/$n/data/admin.token")
done

healthy() {
    local n=$1
    kill -0 "${PID[$n]}" 2>/dev/null || fail "node-$n exited at start"
    ip netns exec "${NS[$n]}" curl -s --max-time 2 -o /dev/null http://127.0.0.1:7780/api/health
}
for n in "${NODES[@]}"; do
    wait_until 30 "node-$n up" healthy "$n" || fail "node-$n's API did not come up within 30 s"
done
say "nodes serving (pids ${PID[a]} ${PID[b]} ${PID[c]})"

for n in "${NODES[@]}"; do
    expect "$n" "${ADMIN[$n]}" POST /api/users "{\"name\":\"li-$n\",\"role\":\"clerk\"}"
    TOKEN[$n]=$(json 'd["token"]' <<<"$BODY")
done

# --- 1. discovery and first sync ------------------------------------------------------------
# What crosses the bridge is captured (where tcpdump is installed) and searched for the
# customer's name and the price: the links are TLS, so neither may appear.
CAPTURE=
if command -v tcpdump >/dev/null 2>&1; then
    ip netns exec "$NS_BR" tcpdump -i br0 -U -s 0 -w "$WORK/bridge.pcap" tcp \
        >"$WORK/tcpdump.log" 2>&1 &
    CAPTURE=$!
    sleep 1
fi
expect a "${TOKEN[a]}" POST /api/customers \
    '{"name":"上海红星美凯龙真北店","code":"SH-001","city":"上海","region":"East","kind":"store"}'
CUSTOMER=$(json 'd["id"]' <<<"$BODY")
new_order() { # new_order NODE SKU QUANTITY -> ORDER_ID
    expect "$1" "${TOKEN[$1]}" POST /api/orders \
        "{\"customer_id\":\"$CUSTOMER\",\"lines\":[{\"sku\":\"$2\",\"spec\":\"三人位沙发\",\"quantity\":\"$3\",\"unit\":\"套\",\"unit_price\":\"1333.33\"}]}"
    ORDER_ID=$(json 'd["id"]' <<<"$BODY")
}
new_order a SF-2108 3
ORDER=$ORDER_ID
say "node-a took order $ORDER for customer $CUSTOMER"

has_order() { # has_order NODE ORDER_ID
    req "$1" "${TOKEN[$1]}" GET "/api/orders/$2"
    [[ "$CODE" == 200 ]]
}
everywhere() { # everywhere ORDER_ID...: every node has every order
    local n o
    for n in "${NODES[@]}"; do
        for o in "$@"; do
            has_order "$n" "$o" || return 1
        done
    done
}
found_by_mdns() { # found_by_mdns NODE: it lists a peer found by mDNS that it has spoken to
    req "$1" "${TOKEN[$1]}" GET /api/status
    [[ "$CODE" == 200 ]] || return 1
    [[ $(json 'sum(1 for p in d["peers"] if p["found_by"] == "mdns" and p["node_id"])' <<<"$BODY") -ge 1 ]]
}
all_found_by_mdns() {
    local n
    for n in "${NODES[@]}"; do
        found_by_mdns "$n" || return 1
    done
}

t=$(date +%s)
if wait_until 60 "order on b and c" everywhere "$ORDER"; then
    pass "discovery: with no static peers, node-a's order reached node-b and node-c in $(( $(date +%s) - t )) s"
else
    for n in "${NODES[@]}"; do
        req "$n" "${TOKEN[$n]}" GET /api/status
        echo "node-$n status ($CODE): $BODY"
    done
    fail "discovery: order $ORDER did not reach every node within 60 s"
fi
peer_list() { # peer_list NODE: its peers as the status shows them, on one line
    req "$1" "${TOKEN[$1]}" GET /api/status
    json '", ".join("%s@%s(%s)" % (p["name"], p["address"], p["found_by"]) for p in d["peers"])' <<<"$BODY"
}
# Each node's status lists a peer it found by mDNS (and has spoken to).
if wait_until 10 "peers by mdns" all_found_by_mdns; then
    pass "status: every node lists a peer found by mDNS"
else
    # Not fatal: the rest of the run does not depend on how the status labels peers.
    FAILED=$((FAILED + 1))
    for n in "${NODES[@]}"; do
        found_by_mdns "$n" || say "node-$n lists no peer found by mDNS: $(peer_list "$n")"
    done
    say "FAIL: status: not every node lists a peer found by mDNS (continuing)"
fi
for n in "${NODES[@]}"; do
    say "node-$n peers: $(peer_list "$n")"
done
if [[ -n "$CAPTURE" ]]; then
    kill "$CAPTURE" 2>/dev/null || true
    wait "$CAPTURE" 2>/dev/null || true
    if python3 - "$WORK/bridge.pcap" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
secrets = ["上海红星美凯龙真北店", "三人位沙发", "1333.33", "SF-2108"]
found = [s for s in secrets if s.encode() in data]
print(f"captured {len(data)} bytes on the bridge; in clear: {found or 'nothing'}")
sys.exit(1 if found or len(data) < 2000 else 0)
PY
    then
        pass "wire: the bridge capture holds no customer name, product or price in clear"
    else
        fail "wire: the bridge capture is too small or holds data in clear"
    fi
else
    say "tcpdump not installed: no capture of the bridge (the integration test reads the raw bytes)"
fi

# --- 2. cut node-c off, work on both sides ---------------------------------------------------
if [[ "$CUT" == down ]]; then
    ip -n "$NS_BR" link set vc down
else
    ip -n "$NS_BR" link set vc nomaster
fi
say "link to node-c cut ($CUT)"
expect a "${TOKEN[a]}" PATCH "/api/orders/$ORDER" '{"project":"from-a"}'
expect a "${TOKEN[a]}" PATCH "/api/orders/$ORDER" '{"receiver":"甲"}'
expect c "${TOKEN[c]}" PATCH "/api/orders/$ORDER" '{"note":"from-c"}'
new_order c SF-3300 1
ORDER_C=$ORDER_ID
new_order a SF-2109 2
ORDER_A=$ORDER_ID
say "during the cut: node-a took $ORDER_A, node-c took $ORDER_C"

# node-b gets node-a's new order (the rest of the LAN still works) while node-c does not.
t=$(date +%s)
if ! wait_until 30 "A's new order on b" has_order b "$ORDER_A"; then
    fail "cut: node-a's new order $ORDER_A did not reach node-b within 30 s"
fi
sleep 2
if has_order c "$ORDER_A"; then
    fail "cut: node-c has node-a's new order $ORDER_A although its link is down"
fi
if has_order a "$ORDER_C" || has_order b "$ORDER_C"; then
    fail "cut: node-c's order $ORDER_C crossed the cut link"
fi
pass "cut: node-b got node-a's new order in $(( $(date +%s) - t - 2 )) s; node-c is isolated"
# Keep the link down until node-a and node-b have noticed (node-c gone from their peers, or
# an exchange with it failed), so the heal exercises rediscovery and reconnection rather than
# TCP retransmission. A long poll in flight takes up to LONG_POLL_MS + 15 s to time out.
lost_c() { # lost_c NODE: its status shows node-c unreachable or gone
    req "$1" "${TOKEN[$1]}" GET /api/status
    [[ "$CODE" == 200 ]] || return 1
    [[ $(json 'sum(1 for p in d["peers"] if p["name"] == "node-c" and not p["last_error"])' <<<"$BODY") -eq 0 ]]
}
both_lost_c() { lost_c a && lost_c b; }
t=$(date +%s)
if wait_until 60 "a and b notice the cut" both_lost_c; then
    say "node-a and node-b noticed the cut after $(( $(date +%s) - t )) s more: a: $(peer_list a); b: $(peer_list b)"
else
    say "node-a and node-b still list node-c as healthy after 60 s (a: $(peer_list a); b: $(peer_list b)); healing anyway"
fi

# --- 3. heal and converge -------------------------------------------------------------------
if [[ "$CUT" == down ]]; then
    ip -n "$NS_BR" link set vc up
else
    ip -n "$NS_BR" link set vc master br0
fi
say "link to node-c restored"
order_merged() { # order_merged NODE: the order carries both sides' edits
    req "$1" "${TOKEN[$1]}" GET "/api/orders/$ORDER"
    [[ "$CODE" == 200 ]] || return 1
    # Header fields are top-level in an order; edits of different fields merge with no conflict.
    python3 -c 'import sys, json
d = json.loads(sys.stdin.read())
want = {"project": "from-a", "receiver": "甲", "note": "from-c"}
sys.exit(0 if all(d.get(k) == v for k, v in want.items()) and not d.get("conflicts") else 1)' <<<"$BODY"
}
converged() {
    everywhere "$ORDER_A" "$ORDER_C" || return 1
    local n
    for n in "${NODES[@]}"; do
        order_merged "$n" || return 1
    done
}
t=$(date +%s)
if wait_until 90 "convergence" converged; then
    pass "heal: all three nodes converged $(( $(date +%s) - t )) s after the link came back"
else
    for n in "${NODES[@]}"; do
        req "$n" "${TOKEN[$n]}" GET "/api/orders/$ORDER"
        echo "node-$n order $ORDER ($CODE): $BODY"
        for o in "$ORDER_A" "$ORDER_C"; do
            has_order "$n" "$o" && echo "node-$n has $o" || echo "node-$n LACKS $o"
        done
        req "$n" "${TOKEN[$n]}" GET /api/status
        echo "node-$n status ($CODE): $BODY"
    done
    fail "heal: nodes did not converge within 90 s of the link coming back"
fi

for n in "${NODES[@]}"; do
    kill -0 "${PID[$n]}" 2>/dev/null || fail "node-$n is no longer running"
done
say "done in $(( $(date +%s) - T0 )) s"
(( FAILED == 0 )) || show_logs
summary
(( FAILED == 0 ))
