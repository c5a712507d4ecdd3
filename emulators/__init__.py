"""Loopback emulators of the systems the portal talks to (cluster, Midtrans) for make run, tests and bench."""
