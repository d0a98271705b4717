#!/usr/bin/env bash
# Runs the node benchmark (benches/node.rs) at default sizes and keeps its output in
# target/bench.txt. Sizes and parts can be overridden through the environment:
#   NEIQIN_BENCH_ORDERS (100000)  NEIQIN_BENCH_SYNC_ORDERS (10000)  NEIQIN_BENCH_HTTP_ORDERS (5000)
#   NEIQIN_BENCH_CLIENTS (32)     NEIQIN_BENCH_ONLY (store|sync)     NEIQIN_BENCH_KEEP (keep data)
#   NEIQIN_BENCH_GEN_THREADS (2)  NEIQIN_BENCH_DEBUG (print peers while waiting for sync)
# Quick smoke run: NEIQIN_BENCH_ORDERS=2000 NEIQIN_BENCH_SYNC_ORDERS=1000 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
cargo bench --bench node "$@" 2>&1 | tee target/bench.txt
