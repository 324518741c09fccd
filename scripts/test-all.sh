#!/usr/bin/env bash
# Runs every test of the project, the same way on a developer's machine and in CI:
#   formatting, lints, the Rust tests, a release build, then the black-box compatibility suite
#   (tests/compat: boto3, the AWS CLI and raw awsQuery/awsJson requests against the release
#   binary). Needs the Rust toolchain, python3 (with venv), access to PyPI, and OpenSSL's
#   development files (installed with apt-get when missing).
# Usage: scripts/test-all.sh [extra pytest arguments, e.g. -k query -x]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# One target directory for every step, so the release binary the suite runs is the one built here.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$CARGO_TARGET_DIR" in /*) ;; *) CARGO_TARGET_DIR="$ROOT/$CARGO_TARGET_DIR" ;; esac
# A run builds every crate once, so incremental state only costs disk (gigabytes of it).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

section() { printf '\n========== %s ==========\n' "$*"; }
started=$SECONDS

section "build prerequisites"
# OpenSSL's development files, for the SNS message signer (docs/decisions/0008).
if ! pkg-config --exists openssl 2>/dev/null; then
    echo "installing libssl-dev and pkg-config"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libssl-dev pkg-config
fi
echo "openssl $(pkg-config --modversion openssl)"

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
    section "Rust tests (cargo nextest)"
    cargo nextest run --workspace
    section "Rust doc tests (cargo test --doc)"
    cargo test --workspace --doc
else
    section "Rust tests (cargo test)"
    cargo test --workspace
fi

section "release build (wharf, wharf-bench)"
cargo build --release -p wharf -p wharf-bench

section "compat suite: Python environment"
VENV="$ROOT/tests/compat/.venv"
REQUIREMENTS="$ROOT/tests/compat/requirements.txt"
STAMP="$VENV/.requirements.sha256"
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
fi
# Reinstall only when the pinned requirements (or the interpreter) changed.
wanted="$( (sha256sum "$REQUIREMENTS"; "$VENV/bin/python" --version) | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$wanted" ]; then
    echo "installing pinned requirements into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$wanted" >"$STAMP"
else
    echo "requirements unchanged; reusing $VENV"
fi

section "compat suite: pytest against the release binary (build steps took $((SECONDS - started))s)"
WHARF_BIN="$CARGO_TARGET_DIR/release/wharf" "$VENV/bin/python" -m pytest "$ROOT/tests/compat" "$@"
