#!/usr/bin/env bash
# Crash torture: two real `neiqin serve` nodes on loopback, syncing with each other, take orders
# from several writing clients each, while one of them is killed with SIGKILL and restarted,
# CYCLES times. Afterwards every order acknowledged (201) by either node must be on both nodes:
# on the node that took it (durability) and on the other one (sync after the crashes).
#
#   scripts/crash-torture.sh [CYCLES]        default 10
#
# Environment: NEIQIN_BIN (binary to test; else target/release or target/debug, else a release
# build), NEIQIN_TORTURE_CLIENTS (writing clients per node, default 4), NEIQIN_TORTURE_KEEP=1
# (keep the temp dir with the nodes' logs).
# Traffic stays on loopback and mDNS is off. Output ends with `lost acknowledged writes: N`;
# exit status 0 only if N is 0 and the nodes converged.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CYCLES=${1:-10}
[[ "$CYCLES" =~ ^[0-9]+$ ]] || { echo "crash-torture: CYCLES must be a number, not $CYCLES" >&2; exit 2; }

if [[ -n "${NEIQIN_BIN:-}" ]]; then
    BIN=$NEIQIN_BIN
elif [[ -x target/release/neiqin ]]; then
    BIN=$ROOT/target/release/neiqin
elif [[ -x target/debug/neiqin ]]; then
    BIN=$ROOT/target/debug/neiqin
else
    echo "crash-torture: no binary found; cargo build --release" >&2
    cargo build --release
    BIN=$ROOT/target/release/neiqin
fi
[[ -x "$BIN" ]] || { echo "crash-torture: $BIN is not an executable" >&2; exit 2; }
command -v python3 >/dev/null 2>&1 || { echo "crash-torture: python3 is required" >&2; exit 2; }

WORK=$(mktemp -d)
cleanup() {
    if [[ "${NEIQIN_TORTURE_KEEP:-}" == 1 ]]; then
        echo "crash-torture: logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

export NEIQIN_LOG=warn
"$BIN" init --data "$WORK/a" --name a --role clerk --roles office,warehouse,finance >/dev/null
"$BIN" init --data "$WORK/b" --name b --role clerk --join >/dev/null
"$BIN" node approve --data "$WORK/a" "$WORK/b/node.csr" --roles office --out "$WORK/b.crt" >/dev/null
"$BIN" node install --data "$WORK/b" "$WORK/b.crt" >/dev/null

python3 - "$BIN" "$WORK" "$CYCLES" "${NEIQIN_TORTURE_CLIENTS:-4}" <<'PY'
import json, random, signal, subprocess, sys, threading, time, urllib.error, urllib.request

BIN, WORK, CYCLES, CLIENTS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
random.seed(7)


def log(msg):
    print(f"crash-torture [{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


T0 = time.monotonic()


def call(base, token, method, path, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


class Node:
    """One `neiqin serve` process on loopback; its peer port is kept across restarts."""

    def __init__(self, name):
        self.name = name
        self.data = f"{WORK}/{name}"
        self.admin = open(f"{self.data}/admin.token").read().strip()
        self.proc = None
        self.base = None
        self.peer = None
        self.peers = []

    def start(self):
        listen_peer = self.peer or "127.0.0.1:0"
        args = [BIN, "serve", "--no-mdns", "--listen", "127.0.0.1:0", "--peer-listen", listen_peer,
                "--data", self.data] + sum((["--peer", p] for p in self.peers), [])
        logfile = open(f"{WORK}/{self.name}.log", "a")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=logfile, text=True)
        base = peer = None
        while base is None or peer is None:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit(f"node {self.name} exited before serving (see {WORK}/{self.name}.log)")
            if "serving on " in line:
                base = line.split("serving on ")[1].strip()
            if "peer endpoint on " in line:
                peer = line.split("peer endpoint on ")[1].strip()
        threading.Thread(target=lambda out=self.proc.stdout: [None for _ in out], daemon=True).start()
        self.base, self.peer = base, peer

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill9()


a, b = Node("a"), Node("b")
a.start()
b.peers = [a.peer]
b.start()
a.stop()
a.peers = [b.peer]
a.start()

CUSTOMER = {"code": "SH-001", "name": "上海真北店", "kind": "store", "city": "上海", "region": "East",
            "contacts": [{"name": "张伟", "mobile": "13812345678"}],
            "invoice_profiles": [{"title": "上海真北家居有限公司", "tax_id": "91310000MA1FL12345"}]}
tokens = {}
for node in (a, b):
    status, user = call(node.base, node.admin, "POST", "/api/users", {"name": f"clerk-{node.name}", "role": "clerk"})
    assert status == 201, f"adding a clerk on {node.name} answered {status}"
    tokens[node.name] = user["token"]
status, customer = call(a.base, tokens["a"], "POST", "/api/customers", CUSTOMER)
assert status == 201, f"creating the customer answered {status}"

deadline = time.monotonic() + 60
while call(b.base, b.admin, "GET", f"/api/customers/{customer['id']}")[0] != 200:
    if time.monotonic() > deadline:
        raise SystemExit("the customer never reached node b")
    time.sleep(0.05)

ORDER = {"customer_id": customer["id"], "salesperson": "王磊", "tax_included": True, "tax_rate": "0.13",
         "invoice_title": "上海真北家居有限公司", "promised_ship_date": "2026-12-20",
         "ship_to": {"address": "真北路1108号", "receiver": "张伟", "phone": "13812345678"},
         "lines": [{"sku": "SF-2108", "spec": "三人位沙发", "quantity": "3", "unit": "套", "unit_price": "1333.33"},
                   {"sku": "CH-0301", "spec": "餐椅", "quantity": "4", "unit": "把", "unit_price": "312.1250"}]}
acknowledged = {"a": [], "b": []}
refused = {"a": 0, "b": 0}
running = True
lock = threading.Lock()


def writer(node):
    while running:
        try:
            status, body = call(node.base, tokens[node.name], "POST", "/api/orders", ORDER, timeout=5)
        except (OSError, urllib.error.URLError):
            # Killed while we asked, or not back yet: the answer never came, nothing is owed.
            time.sleep(0.02)
            continue
        with lock:
            if status == 201:
                acknowledged[node.name].append(body["id"])
            else:
                refused[node.name] += 1


threads = [threading.Thread(target=writer, args=(n,)) for n in (a, b) for _ in range(CLIENTS)]
for t in threads:
    t.start()
for cycle in range(1, CYCLES + 1):
    time.sleep(random.uniform(0.3, 1.5))
    victim = random.choice((a, b))
    victim.kill9()
    victim.start()
    with lock:
        counts = {k: len(v) for k, v in acknowledged.items()}
    log(f"cycle {cycle}/{CYCLES}: killed and restarted {victim.name}; acknowledged so far {counts}")
running = False
for t in threads:
    t.join()

lost = 0
for node, other in ((a, b), (b, a)):
    for oid in acknowledged[node.name]:
        if call(node.base, node.admin, "GET", f"/api/orders/{oid}")[0] != 200:
            lost += 1
            log(f"order {oid} acknowledged by {node.name} is not there after the crashes")
total = sum(len(v) for v in acknowledged.values())
log(f"{total} orders acknowledged ({refused['a'] + refused['b']} refused), {CYCLES} kill -9 and restarts")

# Both nodes converge: every acknowledged order on both, the same count.
missing = None
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    missing = [oid for node, other in ((a, b), (b, a)) for oid in acknowledged[node.name]
               if call(other.base, other.admin, "GET", f"/api/orders/{oid}")[0] != 200]
    counts = [call(n.base, n.admin, "GET", "/api/status")[1]["orders"] for n in (a, b)]
    if not missing and counts[0] == counts[1]:
        break
    time.sleep(0.5)
converged = not missing and counts[0] == counts[1]
log(f"converged: {converged} (orders on a, b: {counts}; acknowledged orders missing on the other node: {len(missing or [])})")
a.stop()
b.stop()
print(f"lost acknowledged writes: {lost}")
sys.exit(0 if lost == 0 and converged else 1)
PY
