#!/usr/bin/env bash
# Runs the crash, fault, load and hostile-input suites of docs/reliability.md in their full form:
# the kill -9 torture test with WHARF_TORTURE_KILLS kills (default 25), the per-service crash
# tests, storage faults and disk full, retention reclaim (WHARF_RECLAIM_MIB, default 48), slow
# and dead consumers, shutdown under load, hostile clients and input, and the property-based
# tests. scripts/test-all.sh runs the same suites in a short form (4 kills).
# Usage: scripts/reliability.sh [extra cargo nextest arguments]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export WHARF_TORTURE_KILLS="${WHARF_TORTURE_KILLS:-25}"

suites=(
    torture crash crash_fifo crash_sns crash_kinesis durability faults disk_full
    consumers_under_load shutdown_under_load shutdown_release process kinesis_retention_reclaim
    hostile_clients hostile_input proptest_inputs proptest_services cbor
)
args=()
for suite in "${suites[@]}"; do
    args+=(--test "$suite")
done
echo "kill -9 torture with $WHARF_TORTURE_KILLS kills, then every other suite"
cargo nextest run --workspace --no-fail-fast "${args[@]}" "$@"
