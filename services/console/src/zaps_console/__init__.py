"""The runs console: every automation and run, why a run failed, and replay, as server-rendered pages."""
