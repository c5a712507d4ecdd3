"""One module per scenario; each has NAME (or NAMES) and run(bench) -> figures."""
