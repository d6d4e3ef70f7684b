#!/bin/sh
# The official image builds Redis with protected mode off (other containers connect without a password);
# Debian's build has it on, so say it on the command line.
set -eu
if [ "${1:-}" = "redis-server" ]; then
  shift
  exec redis-server "$@" --protected-mode no
fi
exec "$@"
