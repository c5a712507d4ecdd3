"""A real SMTP server on loopback (aiosmtpd) that notes when it accepted each message."""
import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Accepted:
    at: float  # time.time() when the server accepted the DATA
    recipients: tuple
    subject: str


class SmtpServer:
    def __init__(self):
        self.accepted: list[Accepted] = []
        self._lock = threading.Lock()
        self._controller = None
        self.port = None

    async def handle_DATA(self, server, session, envelope):
        at = time.time()
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.accepted.append(Accepted(at, tuple(envelope.rcpt_tos), str(message["Subject"] or "")))
        return "250 Message accepted for delivery"

    def start(self) -> "SmtpServer":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self._controller = Controller(self, hostname="127.0.0.1", port=port)
        self._controller.start()
        self.port = port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[Accepted]:
        with self._lock:
            return list(self.accepted)
