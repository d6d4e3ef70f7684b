"""`python -m bench` runs every benchmark in order; `python -m bench foundation` runs one (`--list` names them)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from types import FrameType

from bench import console, engine, foundation, harness, ringcentral

# In the order `make bench` runs them. A new benchmark: a module with `run() -> None`, and one line here.
BENCHMARKS: dict[str, Callable[[], None]] = {
    "foundation": foundation.run,
    "engine": engine.run,
    "console": console.run,
    "ringcentral": ringcentral.run,
}


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds: servers stopped, the bench database dropped


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(prog="python -m bench", description="Print the performance figures of Zaps.")
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--list", action="store_true", help="name the benchmarks and stop")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    failed = []
    for name in args.names or list(BENCHMARKS):
        print(f"\n## {name}\n", flush=True)
        try:
            BENCHMARKS[name]()
        except harness.BenchError as error:  # the others still run; the exit code says something failed
            print(f"bench {name} failed: {error}", file=sys.stderr, flush=True)
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
