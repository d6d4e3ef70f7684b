#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the console's browser tests (Playwright drives it;
# Playwright's own browser download does not work on machines without general internet access).
# Installs it with apt-get when we may (root, or passwordless sudo); otherwise says the browser tests will skip.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: no /usr/bin/chromium and no apt-get: the console's browser tests will be skipped" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "note: installing Chromium needs root: run 'sudo apt-get install chromium', or the browser tests skip" >&2
  exit 0
fi
echo "installing Debian's chromium for the console's browser tests (once)" >&2
export DEBIAN_FRONTEND=noninteractive
# An old package list may not know chromium yet; a failed install leaves the tests to skip, not the run to fail.
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; then
  "${sudo[@]}" apt-get update -q >/dev/null 2>&1 || true
  "${sudo[@]}" apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
    || echo "note: apt-get could not install chromium: the console's browser tests will be skipped" >&2
fi
