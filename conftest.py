# Every test suite in the workspace shares the fixtures of zaps.testing (real PostgreSQL, real Redis when present).
pytest_plugins = ["zaps.testing.plugin"]
