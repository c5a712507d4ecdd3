"""Loopback emulators of the outside systems the portal talks to, for development and tests."""
