"""Property tests are deterministic in `make test` (derandomized, no example database) and explore in
`make security`."""
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
PROFILE_IN_FORCE = ("from hypothesis import settings; import tests.conftest as c; s = settings.default; "
                    "print(s.derandomize, type(s.database).__name__, getattr(s.database, 'path', ''), s.print_blob, "
                    "sep='|')")


def dry_run(*targets: str) -> str:
    """The commands `make` would run for these targets (nothing is run)."""
    done = subprocess.run(["make", "-n", *targets], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def profile_loaded(**env: str) -> list[str]:
    """The Hypothesis settings in force once the suite's conftest is imported, with this environment."""
    environment = {key: value for key, value in os.environ.items() if key != "HYPOTHESIS_PROFILE"}
    done = subprocess.run([sys.executable, "-c", PROFILE_IN_FORCE], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**environment, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1].split("|")


def test_make_test_runs_property_tests_derandomized_without_an_example_database():
    recipes = dry_run("test-postgres", "test-browser", "test-sqlite")
    assert "pytest" in recipes and "HYPOTHESIS_PROFILE" not in recipes
    derandomize, database, _, _ = profile_loaded()
    # The same examples on every run and machine; nothing remembered from an earlier run steers this one
    # (Hypothesis would otherwise replay examples kept in .hypothesis/, differently on each clone).
    assert (derandomize, database) == ("True", "NoneType")


def test_make_security_explores_and_keeps_failing_examples_in_an_ignored_folder():
    recipes = dry_run("security")
    assert "HYPOTHESIS_PROFILE=explore" in recipes
    derandomize, database, path, print_blob = profile_loaded(HYPOTHESIS_PROFILE="explore")
    assert (derandomize, database, print_blob) == ("False", "DirectoryBasedExampleDatabase", "True")
    ignored = subprocess.run(["git", "check-ignore", "-q", os.path.join(path, "some-example")], cwd=ROOT)
    assert Path(path).is_relative_to(ROOT) and ignored.returncode == 0, path


def test_this_run_draws_the_same_examples_as_the_next():
    """Under the suite's default profile a property test draws the same examples each time it runs."""
    def examples() -> list:
        seen = []

        @settings(max_examples=25)
        @given(st.lists(st.integers(), max_size=5))
        def collect(values):
            seen.append(values)

        collect()
        return seen

    drawn = [examples(), examples()]
    assert drawn[0] == drawn[1] and len(drawn[0]) > 1
