"""Validation of Snap `POST /snap/v1/transactions` bodies, worded the way Snap words its error_messages."""
import re
from datetime import datetime

ORDER_ID = re.compile(r"[A-Za-z0-9\-_.~]+")
ORDER_ID_MAX = 50
ITEM_NAME_MAX = 50
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
EXPIRY_UNITS = ("second", "seconds", "minute", "minutes", "hour", "hours", "day", "days")
# Snap answers a reused order id in Indonesian, whatever the request's language.
ORDER_ID_TAKEN = "transaction_details.order_id sudah digunakan"
SUM_MISMATCH = "transaction_details.gross_amount is not equal to the sum of item_details"


def _integer(value) -> bool:
    """An IDR amount: a JSON number with no fraction (99000 or 99000.0); bools and strings are not amounts."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()


def validate(body, taken_order_ids) -> list[str]:
    """Snap's error_messages for this request body; empty when Snap would create the transaction."""
    if not isinstance(body, dict):
        return ["Request body must be a JSON object"]
    details = body.get("transaction_details")
    if not isinstance(details, dict):
        return ["transaction_details is required"]
    errors = _order_id_errors(details.get("order_id"), taken_order_ids)
    amount = details.get("gross_amount")
    if amount is None:
        errors.append("transaction_details.gross_amount is required")
    elif not _integer(amount):
        errors.append("transaction_details.gross_amount must be an integer for IDR (no decimals)")
    elif amount <= 0:
        errors.append("transaction_details.gross_amount must be greater than or equal to 0.01")
    items = body.get("item_details")
    if items is not None:
        item_errors = _item_errors(items)
        errors += item_errors
        if not item_errors and _integer(amount) and \
                sum(item["price"] * item["quantity"] for item in items) != amount:
            errors.append(SUM_MISMATCH)
    errors += _customer_errors(body.get("customer_details"))
    errors += _expiry_errors(body.get("expiry"))
    callbacks = body.get("callbacks")
    if callbacks is not None and (not isinstance(callbacks, dict) or
                                  not isinstance(callbacks.get("finish", ""), str)):
        errors.append("callbacks.finish must be a URL string")
    return errors


def _order_id_errors(order_id, taken_order_ids) -> list[str]:
    if order_id is None or order_id == "":
        return ["transaction_details.order_id is required"]
    if not isinstance(order_id, str):
        return ["transaction_details.order_id must be a string"]
    if len(order_id) > ORDER_ID_MAX:
        return [f"transaction_details.order_id is too long (maximum is {ORDER_ID_MAX} characters)"]
    if not ORDER_ID.fullmatch(order_id):
        return ["transaction_details.order_id may only contain letters, digits and - _ . ~"]
    if order_id in taken_order_ids:
        return [ORDER_ID_TAKEN]
    return []


def _item_errors(items) -> list[str]:
    if not isinstance(items, list):
        return ["item_details must be an array"]
    errors = []
    for index, item in enumerate(items):
        where = f"item_details[{index}]"
        if not isinstance(item, dict):
            errors.append(f"{where} must be an object")
            continue
        if not _integer(item.get("price")):  # negative prices are allowed: that is how discounts are sent
            errors.append(f"{where}.price must be an integer")
        quantity = item.get("quantity")
        if not _integer(quantity) or quantity < 1:
            errors.append(f"{where}.quantity must be a positive integer")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{where}.name is required")
        elif len(name) > ITEM_NAME_MAX:
            errors.append(f"{where}.name is too long (maximum is {ITEM_NAME_MAX} characters)")
    return errors


def _customer_errors(customer) -> list[str]:
    if customer is None:
        return []
    if not isinstance(customer, dict):
        return ["customer_details must be an object"]
    email = customer.get("email")
    if email is not None and (not isinstance(email, str) or not EMAIL.fullmatch(email)):
        return ["customer_details.email format is invalid"]
    return []


def _expiry_errors(expiry) -> list[str]:
    if expiry is None:
        return []
    if not isinstance(expiry, dict):
        return ["expiry must be an object"]
    errors = []
    if str(expiry.get("unit", "")).lower() not in EXPIRY_UNITS:
        errors.append("expiry.unit must be one of second, minute, hour, day")
    duration = expiry.get("duration")
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 1:
        errors.append("expiry.duration must be a positive integer")
    start = expiry.get("start_time")
    if start is not None:
        try:  # the offset is required: "2030-01-02 10:00:00 +0700"
            datetime.strptime(str(start), "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            errors.append("expiry.start_time must look like yyyy-MM-dd HH:mm:ss Z (e.g. 2030-01-02 10:00:00 +0700)")
    return errors
