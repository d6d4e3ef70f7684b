#!/usr/bin/env bash
# Prints the path of a uv binary, installing a pinned one into .zaps/tools if none is on PATH.
# A fresh machine needs only python3 (with venv), make and git: uv itself comes from PyPI.
set -euo pipefail

UV_VERSION="0.13.9"  # keep in step with the version CI and the Dockerfile use
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.zaps/tools"

if command -v uv >/dev/null 2>&1; then
  command -v uv
  exit 0
fi
if [ -x "$tools/bin/uv" ]; then
  echo "$tools/bin/uv"
  exit 0
fi

echo "uv not found: installing uv $UV_VERSION into $tools" >&2
if python3 -m venv "$tools" >/dev/null 2>&1; then
  "$tools/bin/python" -m pip install --quiet "uv==$UV_VERSION" >&2
else
  # Debian and Ubuntu ship python3 without venv unless python3-venv is installed; fall back to a user install.
  rm -rf "$tools"
  python3 -m pip install --quiet --user --break-system-packages "uv==$UV_VERSION" >&2 \
    || python3 -m pip install --quiet --user "uv==$UV_VERSION" >&2
  mkdir -p "$tools/bin"
  ln -sf "$(python3 -m site --user-base)/bin/uv" "$tools/bin/uv"
fi
echo "$tools/bin/uv"
