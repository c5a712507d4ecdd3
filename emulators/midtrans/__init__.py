"""An emulated Midtrans (Snap and the Core status API) on loopback, for tests and `make run` without Midtrans."""
from .emulator import MidtransEmulator

__all__ = ["MidtransEmulator"]
