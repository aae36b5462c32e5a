#!/bin/sh
# Makes sure Debian's diod (a C 9P2000.L server, and diodcat/diodls, an
# independent C client) is installed: the independent-client test and the
# benchmark's comparison use it. Idempotent and silent when present.
set -eu
if [ -x /usr/sbin/diodcat ] && [ -x /usr/sbin/diod ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-diod: apt-get is not available; install Debian's diod package by hand" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q diod >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q diod >/dev/null; } || {
  echo "setup-diod: could not install diod with apt-get (apt-get install diod)" >&2
  exit 1
}
