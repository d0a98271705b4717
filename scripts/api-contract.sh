#!/usr/bin/env bash
#! Checks the OpenAPI document against the server (issue 20, "The contract"): a node holding
#! the demo data runs on loopback, and schemathesis (property-based, `--checks all`) sends it
#! requests made from `/api/openapi.json`. Any server error, any schema-valid request refused,
#! any schema-invalid request taken, any status or body the document does not state fails.
#!
#!   scripts/api-contract.sh                  # builds the release binary first
#!   NEIQIN_BIN=target/debug/neiqin scripts/api-contract.sh   # a binary already built
#!
#! Environment: NEIQIN_CONTRACT_EXAMPLES (examples per operation, default 25),
#! NEIQIN_CONTRACT_SEED (default fixed, so a failure can be replayed), NEIQIN_CONTRACT_KEEP
#! (keep the node's data directory). schemathesis comes from PyPI into target/, pinned below.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${NEIQIN_CONTRACT_EXAMPLES:-25}
SEED=${NEIQIN_CONTRACT_SEED:-20261202}
VENV=target/schemathesis-venv
started=$(date +%s)

if [ -z "${NEIQIN_BIN:-}" ]; then
    cargo build --release --bin neiqin
    NEIQIN_BIN=target/release/neiqin
fi

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

DATA=$(mktemp -d)
NODE_PID=
cleanup() {
    # Only the node this script started, by its pid.
    if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
        kill "$NODE_PID"
        wait "$NODE_PID" 2>/dev/null || true
    fi
    if [ -z "${NEIQIN_CONTRACT_KEEP:-}" ]; then
        rm -rf "$DATA"
    else
        echo "node data kept in $DATA"
    fi
}
trap cleanup EXIT

# Two free loopback ports: the local API and the peer endpoint (kept off 0.0.0.0).
read -r API_PORT PEER_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')

"$NEIQIN_BIN" init --data "$DATA" --name contract --role clerk >/dev/null
"$NEIQIN_BIN" import --data "$DATA" fixtures/demo.json >/dev/null 2>&1
"$NEIQIN_BIN" serve --no-mdns --data "$DATA" \
    --listen "127.0.0.1:$API_PORT" --peer-listen "127.0.0.1:$PEER_PORT" \
    >"$DATA/node.log" 2>&1 &
NODE_PID=$!

BASE="http://127.0.0.1:$API_PORT"
for _ in $(seq 1 100); do
    curl -sf "$BASE/api/health" >/dev/null && break
    kill -0 "$NODE_PID" 2>/dev/null || { cat "$DATA/node.log"; exit 1; }
    sleep 0.1
done
TOKEN=$(cat "$DATA/admin.token")

# The admin's token for every operation: the admin manages users and reads everything; the
# other routes answer it 403, which the document states. Reports go to target/ for reading.
status=0
"$VENV/bin/schemathesis" --config-file scripts/api-contract.toml run "$BASE/api/openapi.json" \
    --checks all \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers 2 \
    --request-timeout 30 \
    --header "Authorization: Bearer $TOKEN" \
    --report junit --report-dir target/api-contract \
    || status=$?

if grep -q "panicked\|internal error" "$DATA/node.log"; then
    echo "the node logged errors:"
    grep "panicked\|internal error" "$DATA/node.log" | head -20
    status=1
fi
echo "api-contract: $(($(date +%s) - started)) s, exit $status"
exit "$status"
