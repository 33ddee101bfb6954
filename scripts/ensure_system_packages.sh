#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing: Chromium for the browser
# tests, redis-server for the django-q2 Redis-broker test. Needs root (or sudo) the first time only.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
for extra in "$@"; do
  case "$extra" in
    postfix) [ -x /usr/sbin/smtp-sink ] || missing+=(postfix) ;;
    *) command -v "$extra" >/dev/null 2>&1 || missing+=("$extra") ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "Installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
