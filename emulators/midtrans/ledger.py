"""The emulator's transactions: Snap records, scripted payment states, refunds and chargebacks, and
status/notification bodies."""
import copy
import hashlib
import re
import threading
import uuid
from datetime import datetime, timedelta, timezone

from .faults import Faults

# Midtrans reports times as "YYYY-MM-DD HH:MM:SS" in Jakarta time (UTC+7), without the offset.
JAKARTA = timezone(timedelta(hours=7), "WIB")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

STATUSES = ("pending", "authorize", "capture", "settlement", "deny", "cancel", "expire", "failure",
            "refund", "partial_refund", "chargeback", "partial_chargeback")
FRAUD_STATUSES = ("accept", "challenge", "deny")
# States in which the money has arrived at some point; the body then carries settlement_time.
SETTLED = ("settlement", "refund", "partial_refund", "chargeback", "partial_chargeback")
FOUND = "Success, transaction is found"
NOTIFICATION_MESSAGE = "midtrans payment notification"
# How long a pending payment stays payable when the Snap request set no `expiry` (Midtrans' defaults).
DEFAULT_PENDING = {"gopay": timedelta(minutes=15), "shopeepay": timedelta(minutes=15), "qris": timedelta(minutes=15),
                   "credit_card": timedelta(minutes=10)}
DEFAULT_PENDING_OTHER = timedelta(hours=24)
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
# Refunds are taken from a settled payment (a captured card is cancelled instead); a refund leaves it refundable until
# nothing is left. A chargeback comes from the customer's bank, so it may follow a partial refund too.
REFUNDABLE = ("settlement", "partial_refund")
CHARGEABLE = ("settlement", "partial_refund", "partial_chargeback")
REFUND_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}")
REFUND_APPROVED = "Success, refund request is approved"


class RefundRefused(Exception):
    """Midtrans refuses the refund (or scripted chargeback); `code` is its status_code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message
# Core API actions (and the dashboard's approve/deny): the states they may start from, the state they lead to,
# and Midtrans' message. A settled transaction is past all of them (refund is its only way back).
ACTIONS = {
    "cancel": (("pending", "authorize", "capture"), "cancel", "Success, transaction is canceled"),
    "expire": (("pending",), "expire", "Success, transaction has expired"),
    "approve": (("capture",), "capture", "Success, transaction is approved"),
    "deny": (("capture", "pending"), "deny", "Success, transaction is denied"),
}


def now_jakarta() -> datetime:
    return datetime.now(JAKARTA).replace(microsecond=0)


def midtrans_time(moment: datetime) -> str:
    return moment.astimezone(JAKARTA).strftime(TIME_FORMAT)


def format_amount(value) -> str:
    """Midtrans' string form of an amount: 99000 -> "99000.00" (what the signature is computed over)."""
    if isinstance(value, bool):
        raise ValueError(f"not an amount: {value!r}")
    return f"{float(value):.2f}"


def signature_key(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{server_key}".encode()).hexdigest()


def status_code_for(transaction_status: str, fraud_status: str | None = None) -> str:
    """The `status_code` Midtrans puts next to a transaction status (a challenged capture still waits: 201)."""
    if transaction_status == "capture":
        return {"challenge": "201", "deny": "202"}.get(fraud_status, "200")
    if transaction_status == "pending":
        return "201"
    if transaction_status in ("deny", "failure"):
        return "202"
    if transaction_status == "expire":
        return "407"
    return "200"


def default_fraud_status(transaction_status: str, payment_type: str) -> str:
    """Midtrans answers "accept" unless its fraud detection or the bank turned a card down."""
    return "deny" if transaction_status == "deny" and payment_type == "credit_card" else "accept"


def expiry_seconds(expiry: dict | None) -> int | None:
    """Seconds from a Snap `expiry` object ({"unit": "minutes", "duration": 30}); None when absent or odd."""
    if not isinstance(expiry, dict):
        return None
    unit = str(expiry.get("unit", "")).lower().rstrip("s")
    duration = expiry.get("duration")
    if unit not in _UNITS or isinstance(duration, bool) or not isinstance(duration, int):
        return None
    return _UNITS[unit] * duration


def _digits(seed: str, count: int) -> str:
    """Stable pseudo-random digits, so a transaction keeps its VA number across reads."""
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:count].rjust(count, "0")


def payment_details(record: dict) -> dict:
    """The payment-type fields of a status body: VA numbers, bill keys, masked cards..."""
    kind, seed, status = record["payment_type"], record["order_id"], record["transaction_status"]
    if kind == "bank_transfer":
        bank = record.get("bank") or "bca"
        if bank == "permata":
            return {"permata_va_number": _digits(seed, 18)}
        return {"va_numbers": [{"bank": bank, "va_number": _digits(seed, 11)}]}
    if kind == "echannel":
        return {"bill_key": _digits(seed, 12), "biller_code": "70012"}
    if kind == "cstore":
        return {"store": record.get("bank") or "indomaret", "payment_code": _digits(seed, 16)}
    if kind == "credit_card":
        details = {"masked_card": "48111111-1114", "bank": record.get("bank") or "bni", "card_type": "credit",
                   "channel_response_code": "00", "channel_response_message": "Approved"}
        if status in ("capture", "authorize") + SETTLED:
            details["approval_code"] = _digits(seed + "approval", 13)
        return details
    if kind == "qris":
        return {"acquirer": "gopay"}
    return {}


class Ledger:
    """Every transaction the emulator knows, keyed by order id; guarded by `lock` (the server is threaded)."""

    def __init__(self, server_key: str, merchant_id: str):
        self.server_key = server_key
        self.merchant_id = merchant_id
        self.lock = threading.RLock()
        self.records: dict[str, dict] = {}
        self.tokens: dict[str, str] = {}  # Snap token -> order id
        self.faults = Faults()
        self.refund_ids = 0  # Midtrans numbers refunds and chargebacks in one sequence (refund_chargeback_id)

    def reset(self) -> None:
        with self.lock:
            self.records.clear()
            self.tokens.clear()
            self.faults.clear()
            self.refund_ids = 0

    def snapshot(self) -> dict[str, dict]:
        with self.lock:
            return copy.deepcopy(self.records)

    # --- records -----------------------------------------------------------------------------------------

    def create_snap(self, body: dict, base_url: str) -> dict:
        """Record a validated Snap request; the order has no transaction (status 404) until a payment is scripted."""
        details = body["transaction_details"]
        token = str(uuid.uuid4())
        record = self._blank(details["order_id"], details["gross_amount"])
        record.update(token=token, redirect_url=f"{base_url}/snap/v4/redirection/{token}", request=copy.deepcopy(body),
                      expiry=copy.deepcopy(body.get("expiry")), page_expiry=copy.deepcopy(body.get("page_expiry")),
                      callbacks=copy.deepcopy(body.get("callbacks")),
                      customer_details=copy.deepcopy(body.get("customer_details")),
                      item_details=copy.deepcopy(body.get("item_details")))
        self.records[record["order_id"]] = record
        self.tokens[token] = record["order_id"]
        return record

    def _blank(self, order_id: str, gross_amount) -> dict:
        return {"order_id": order_id, "gross_amount": format_amount(gross_amount), "currency": "IDR",
                "created_at": midtrans_time(now_jakarta()), "token": None, "redirect_url": None, "request": None,
                "expiry": None, "page_expiry": None, "callbacks": None, "customer_details": None, "item_details": None,
                "transaction_id": None, "transaction_status": None, "fraud_status": None, "payment_type": None,
                "bank": None, "transaction_time": None, "settlement_time": None, "expiry_time": None, "history": [],
                "refunds": []}

    def find(self, order_or_transaction_id: str) -> dict | None:
        """The record for an order id or a transaction id (the status API takes either)."""
        record = self.records.get(order_or_transaction_id)
        if record is not None:
            return record
        return next((r for r in self.records.values() if r["transaction_id"] == order_or_transaction_id), None)

    def by_token(self, token: str) -> dict | None:
        order_id = self.tokens.get(token)
        return self.records.get(order_id) if order_id is not None else None

    def set_status(self, order_id: str, transaction_status: str, fraud_status: str | None = None,
                   payment_type: str = "bank_transfer", gross_amount=None, bank: str | None = None) -> dict:
        if transaction_status not in STATUSES:
            raise ValueError(f"transaction_status must be one of {', '.join(STATUSES)}; not {transaction_status!r}")
        if fraud_status is not None and fraud_status not in FRAUD_STATUSES:
            raise ValueError(f"fraud_status must be one of {', '.join(FRAUD_STATUSES)}; not {fraud_status!r}")
        record = self.records.get(order_id)
        if record is None:
            if gross_amount is None:
                raise ValueError(f"order {order_id!r} was never created through Snap: pass gross_amount")
            record = self.records[order_id] = self._blank(order_id, gross_amount)
        elif gross_amount is not None:
            record["gross_amount"] = format_amount(gross_amount)
        now = now_jakarta()
        if record["transaction_id"] is None:  # the customer has just picked a payment method
            record["transaction_id"] = str(uuid.uuid4())
            record["transaction_time"] = midtrans_time(now)
        if fraud_status is None:
            fraud_status = default_fraud_status(transaction_status, payment_type)
        record.update(transaction_status=transaction_status, fraud_status=fraud_status, payment_type=payment_type,
                      bank=bank or record["bank"])
        if transaction_status in SETTLED and record["settlement_time"] is None:
            record["settlement_time"] = midtrans_time(now)
        elif transaction_status not in SETTLED:
            record["settlement_time"] = None
        record["expiry_time"] = self._expiry_time(record) if transaction_status == "pending" else None
        record["history"].append({"transaction_status": transaction_status, "fraud_status": fraud_status,
                                  "at": midtrans_time(now)})
        return record

    def refund(self, order_or_transaction_id: str, *, amount=None, refund_key=None, reason=None,
               chargeback: bool = False) -> tuple[dict, dict]:
        """Take money back from a settled transaction, as the refund API does (or, with `chargeback`, as a customer's
        bank does): all that is left when no amount is given. Returns (record, refund entry); RefundRefused with
        Midtrans' code when it would refuse. The status becomes refund / partial_refund (chargeback /
        partial_chargeback) and the entry is listed in the status body's `refunds`."""
        record = self.find(order_or_transaction_id)
        if record is None or record["transaction_status"] is None:
            raise RefundRefused(404, "Transaction doesn't exist.")
        if record["transaction_status"] not in (CHARGEABLE if chargeback else REFUNDABLE):
            raise RefundRefused(412, "Merchant cannot modify the status of the transaction")
        gross = float(record["gross_amount"])
        taken = sum(float(entry["refund_amount"]) for entry in record["refunds"])
        left = gross - taken
        if amount is None:
            amount = left
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount != int(amount) or amount <= 0:
            raise RefundRefused(400, "amount must be a positive whole number of rupiah")
        if amount > left:
            raise RefundRefused(412, f"Refund amount exceeds the amount left to refund ({format_amount(left)})")
        if refund_key is not None:
            if not isinstance(refund_key, str) or not REFUND_KEY.fullmatch(refund_key):
                raise RefundRefused(400, "refund_key may only hold letters, digits, dash and underscore (100 at most)")
            if any(entry["refund_key"] == refund_key for entry in record["refunds"]):
                raise RefundRefused(406, "The refund_key has already been used for this transaction")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 255):
            raise RefundRefused(400, "reason must be text of at most 255 characters")
        self.refund_ids += 1
        now = midtrans_time(now_jakarta())
        entry = {"refund_chargeback_id": self.refund_ids, "refund_amount": format_amount(amount), "created_at": now,
                 "reason": reason or ("chargeback" if chargeback else "refund request from merchant"),
                 "refund_key": refund_key or str(uuid.uuid4()), "refund_method": "", "bank_confirmed_at": now}
        record["refunds"].append(entry)
        whole = taken + amount >= gross
        status = ("chargeback" if whole else "partial_chargeback") if chargeback else \
            ("refund" if whole else "partial_refund")
        record["transaction_status"] = status
        record["history"].append({"transaction_status": status, "fraud_status": record["fraud_status"], "at": now})
        return record, entry
    def act(self, record: dict, action: str) -> dict:
        """Apply a Core API action to a transaction; its answer body. ValueError when Midtrans refuses (412)."""
        sources, target, message = ACTIONS[action]
        current, fraud = record["transaction_status"], record["fraud_status"]
        allowed = current in sources
        if action == "approve" or (action == "deny" and current == "capture"):
            allowed = allowed and fraud == "challenge"  # only a challenged card payment awaits a decision
        if not allowed:
            raise ValueError(f"cannot {action} a {current} transaction")
        fraud_status = {"approve": "accept", "deny": "deny"}.get(action, fraud)
        self.set_status(record["order_id"], target, fraud_status=fraud_status, payment_type=record["payment_type"],
                        bank=record["bank"])
        return self.body(record, message)

    @staticmethod
    def _expiry_time(record: dict) -> str:
        seconds = expiry_seconds(record["expiry"])
        started = datetime.strptime(record["transaction_time"], TIME_FORMAT).replace(tzinfo=JAKARTA)
        if seconds is not None and record["expiry"].get("start_time"):
            try:  # Snap counts a custom expiry from its start_time ("2030-01-02 10:00:00 +0700") when given
                started = datetime.strptime(str(record["expiry"]["start_time"]), TIME_FORMAT + " %z")
            except ValueError:
                pass
        window = timedelta(seconds=seconds) if seconds is not None else \
            DEFAULT_PENDING.get(record["payment_type"], DEFAULT_PENDING_OTHER)
        return midtrans_time(started + window)

    # --- bodies --------------------------------------------------------------------------------------------

    def body(self, record: dict, status_message: str = FOUND, *, transaction_status: str | None = None,
             fraud_status: str | None = None, status_code: str | None = None, gross_amount=None,
             server_key: str | None = None) -> dict:
        """A transaction as the status API (or, with NOTIFICATION_MESSAGE, a notification) shows it.

        Overrides change only this body, never the record: tests use them for late or forged notifications.
        The signature covers the body's own order_id, status_code and gross_amount."""
        status = transaction_status or record["transaction_status"]
        if status is None:
            raise ValueError(f"order {record['order_id']!r} has no payment yet: call set_status first "
                             f"or pass transaction_status")
        if status not in STATUSES:
            raise ValueError(f"transaction_status must be one of {', '.join(STATUSES)}; not {status!r}")
        payment_type = record["payment_type"] or "bank_transfer"
        if fraud_status is None:
            fraud_status = record["fraud_status"] if transaction_status in (None, record["transaction_status"]) \
                else default_fraud_status(status, payment_type)
        code = str(status_code) if status_code is not None else status_code_for(status, fraud_status)
        amount = format_amount(gross_amount) if gross_amount is not None else record["gross_amount"]
        transaction_time = record["transaction_time"] or midtrans_time(now_jakarta())
        body = {"status_code": code, "status_message": status_message,
                "transaction_id": record["transaction_id"] or str(uuid.uuid5(uuid.NAMESPACE_URL, record["order_id"])),
                "order_id": record["order_id"], "merchant_id": self.merchant_id, "gross_amount": amount,
                "currency": record["currency"], "payment_type": payment_type, "transaction_time": transaction_time,
                "transaction_status": status, "fraud_status": fraud_status}
        view = dict(record, payment_type=payment_type, transaction_status=status)
        body.update(payment_details(view))
        if status in SETTLED:
            body["settlement_time"] = record["settlement_time"] or transaction_time
        if record.get("refunds"):
            # Every refund and chargeback so far, and their total: what the status API and notifications show.
            body["refund_amount"] = format_amount(sum(float(entry["refund_amount"]) for entry in record["refunds"]))
            body["refunds"] = copy.deepcopy(record["refunds"])
        if status == "pending":
            body["expiry_time"] = (record["expiry_time"]
                                   or self._expiry_time(dict(view, transaction_time=transaction_time)))
        body["signature_key"] = signature_key(body["order_id"], code, amount,
                                              self.server_key if server_key is None else server_key)
        return body

    def notification(self, order_id: str, *, transaction_status=None, fraud_status=None, status_code=None,
                     gross_amount=None, server_key=None) -> dict:
        record = self.records.get(order_id)
        if record is None:
            if transaction_status is None or gross_amount is None:
                raise ValueError(f"order {order_id!r} is unknown: pass transaction_status and gross_amount, "
                                 f"or call set_status first")
            record = self._blank(order_id, gross_amount)
        return self.body(record, NOTIFICATION_MESSAGE, transaction_status=transaction_status,
                         fraud_status=fraud_status, status_code=status_code, gross_amount=gross_amount,
                         server_key=server_key)
