"""Performance figures of Zaps, printed by `make bench` (`python -m bench [NAME ...]`); see docs/performance.md.

Each benchmark is a module with `run() -> None`, listed in `bench.__main__.BENCHMARKS`; `bench.harness` holds what
they share: service processes, a throw-away database, the load generator, percentiles and the printed tables.
"""
