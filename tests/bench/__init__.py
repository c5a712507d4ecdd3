"""The benchmark harness, run at smoke sizes so it cannot rot."""
