#!/bin/sh
# Makes sure Debian's chromium is at /usr/bin/chromium for the browser tests.
# playwright-core drives this binary; it must never download its own browser
# (these machines reach only the npm registry and Debian's apt mirrors).
# Idempotent and silent when chromium is already installed.
set -eu

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

fail() {
  echo "setup-browser: $1" >&2
  echo "setup-browser: install Debian's chromium by hand (apt-get install chromium) so that $CHROMIUM exists." >&2
  exit 1
}

if ! command -v apt-get >/dev/null 2>&1; then
  fail "$CHROMIUM is missing and apt-get is not available on this system."
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    fail "$CHROMIUM is missing and installing it needs root (no sudo found)."
  fi
fi

echo "setup-browser: $CHROMIUM not found; installing Debian's chromium with apt-get..." >&2
LOG=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update >"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  rm -f "$LOG"
  fail "apt-get update failed (is the Debian mirror reachable?)."
fi
if ! $SUDO apt-get install -y --no-install-recommends chromium >"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  rm -f "$LOG"
  fail "apt-get install chromium failed."
fi
rm -f "$LOG"

if [ ! -x "$CHROMIUM" ]; then
  fail "apt-get finished but $CHROMIUM is still missing."
fi
echo "setup-browser: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)" >&2
