"""`zaps connections check`: for each configured connection, one harmless read (or, for a write-only URL, a shape
check) that says OK or why not, before the first event needs it. See docs/connectors.md, "Check your connections"."""
