"""Security suites: the billing and cluster fixtures come from tests/fixtures/; a module picks its app_config."""
# Figures the suites record (record_property), summed over every test and xdist worker for the closing note.
FIGURES = {"fuzz_cases": "fuzz cases run", "fuzz_requests": "webhook requests sent while fuzzing",
           "property_cases": "property-based cases (manifests, validators, pages)",
           "routes_x_roles": "routes × roles checked"}


def pytest_terminal_summary(terminalreporter):
    totals = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name in FIGURES:
                    totals[name] = totals.get(name, 0) + value
    if totals:
        terminalreporter.write_sep("-", "security figures")
        for name, label in FIGURES.items():
            if name in totals:
                terminalreporter.write_line(f"{label}: {totals[name]}")
