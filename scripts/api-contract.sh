#!/usr/bin/env bash
# Checks the OpenAPI document against the server (issue 20, "The contract"): a node holding
# the demo data runs on loopback, and schemathesis (property-based, `--checks all`) sends it
# requests made from `/api/openapi.json`. Any server error, any schema-valid request refused,
# any schema-invalid request taken, any status or body the document does not state fails.
#
#   scripts/api-contract.sh                  # builds the release binary first
#   NEIQIN_BIN=target/debug/neiqin scripts/api-contract.sh   # a binary already built
#
# Environment: NEIQIN_CONTRACT_EXAMPLES (examples per operation and role, default 10),
# NEIQIN_CONTRACT_SEED (default fixed, so a failure can be replayed), NEIQIN_CONTRACT_KEEP
# (keep the node's data directory). schemathesis comes from PyPI into target/, pinned below.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${NEIQIN_CONTRACT_EXAMPLES:-10}
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

"$NEIQIN_BIN" init --data "$DATA" --name contract --role clerk --roles office,warehouse,finance >/dev/null
"$NEIQIN_BIN" import --data "$DATA" fixtures/demo.json >"$DATA/import.log" 2>&1 || {
    cat "$DATA/import.log"
    exit 1
}
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
ADMIN=$(cat "$DATA/admin.token")

# One user per role, and ids the demo data holds (orders of every status, customers, facts,
# anomalies), so that requests reach the rules behind the ids instead of stopping at 404. They
# go into a copy of scripts/api-contract.toml as dictionaries the path parameters draw from.
python3 - "$BASE" "$ADMIN" "$DATA" <<'PY'
import json, sys, urllib.request
base, admin, data = sys.argv[1:]
def call(method, path, token, body=None):
    req = urllib.request.Request(base + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
with open(data + "/tokens", "w") as f:
    f.write("admin " + admin + "\n")
    for role in ["clerk", "supervisor", "vp", "warehouse", "finance"]:
        f.write(role + " " + call("POST", "/api/users", admin, {"name": "contract " + role, "role": role})["token"] + "\n")
status = call("GET", "/api/status", admin)
orders, facts = [], {"payment": [], "invoice": [], "return_requested": []}
for st in status["orders_by_status"]:
    for i, o in enumerate(call("GET", f"/api/orders?status={st}&limit=40", admin)["items"]):
        # Three orders of each status to act on; the facts of all forty to name.
        if i < 3:
            orders.append(o["id"])
        for f in call("GET", "/api/orders/" + o["id"], admin)["facts"]:
            if f["kind"] in facts:
                facts[f["kind"]].append(f["id"])
customers = [c["id"] for c in call("GET", "/api/customers?limit=20", admin)["items"]]
anomalies = [a["id"] for a in call("GET", "/api/anomalies", admin)][:20]
complaints = [r["complaint"]["id"] for r in call("GET", "/api/complaints?limit=20", admin)["items"]]
# Contracts of every state, so that each step meets one it may take and ones it may not.
contracts = [r["contract"]["id"] for st in ["draft", "submitted", "reviewed", "approved", "signed", "archived", "rejected"]
             for r in call("GET", f"/api/contracts?state={st}&limit=3", admin)["items"]]
def toml_list(xs):
    return "[" + ", ".join(json.dumps(x) for x in xs) + "]"
with open(data + "/contract.toml", "w") as out:
    out.write(open("scripts/api-contract.toml").read())
    out.write(f"""
[dictionaries.orders]
values = {toml_list(orders)}
[dictionaries.customers]
values = {toml_list(customers)}
[dictionaries.payments]
values = {toml_list(facts["payment"][:20] or ["none"])}
[dictionaries.invoices]
values = {toml_list(facts["invoice"][:20] or ["none"])}
[dictionaries.returns]
values = {toml_list(facts["return_requested"][:20] or ["none"])}
[dictionaries.anomalies]
values = {toml_list(anomalies or ["none"])}
[dictionaries.complaints]
values = {toml_list(complaints or ["none"])}
[dictionaries.contracts]
values = {toml_list(contracts or ["none"])}

[parameters]
"path.pid" = {{ dictionary = "payments", probability = 0.8 }}
"path.iid" = {{ dictionary = "invoices", probability = 0.8 }}
"path.rid" = {{ dictionary = "returns", probability = 0.8 }}

[[operations]]
include-path-regex = "^/api/orders/"
parameters."path.id" = {{ dictionary = "orders", probability = 0.8 }}

[[operations]]
include-path-regex = "^/api/customers/"
parameters."path.id" = {{ dictionary = "customers", probability = 0.8 }}

[[operations]]
include-path-regex = "^/api/anomalies/"
parameters."path.id" = {{ dictionary = "anomalies", probability = 0.8 }}

[[operations]]
include-path-regex = "^/api/complaints/"
parameters."path.id" = {{ dictionary = "complaints", probability = 0.8 }}

[[operations]]
include-path-regex = "^/api/contracts/"
parameters."path.id" = {{ dictionary = "contracts", probability = 0.8 }}
""")
print(f"{len(orders)} orders, {len(customers)} customers, {len(anomalies)} anomalies, "
      f"{len(complaints)} complaints, {len(contracts)} contracts, "
      + ", ".join(f"{len(v)} {k}" for k, v in facts.items()))
PY

# One worker: with two, hypothesis parses sources in two threads at once and CPython 3.11 can
# fail with "AST constructor recursion depth mismatch", an error of the tool, not of the node.
# A pass per role: the admin manages users and reads everything (the rest answers it 403, as
# the document states); each other role reaches the rules behind its own routes.
status=0
# schemathesis keeps a cache (.schemathesis/) where it runs: under target/, not in the tree.
mkdir -p target/api-contract
ROOT=$(pwd)
while read -r role token; do
    echo "=== schemathesis as $role"
    (cd target/api-contract && "$ROOT/$VENV/bin/schemathesis" --config-file "$DATA/contract.toml" \
        run "$BASE/api/openapi.json" \
        --checks all \
        --max-examples "$EXAMPLES" \
        --seed "$SEED" \
        --workers 1 \
        --request-timeout 30 \
        --header "Authorization: Bearer $token" \
        --report junit --report-dir "$role" </dev/null) \
        || status=$?
done <"$DATA/tokens"

if grep -q "panicked\|internal error" "$DATA/node.log"; then
    echo "the node logged errors:"
    grep "panicked\|internal error" "$DATA/node.log" | head -20
    status=1
fi
echo "api-contract: $(($(date +%s) - started)) s, exit $status"
exit "$status"
