"""`/_emulator/...`: the emulator's own controls over HTTP, so another process can script payments."""
# GET    /_emulator                      summary (url, merchant id, transaction count, faults, settings)
# GET    /_emulator/transactions         every transaction record; /_emulator/transactions/ORDER_ID one of them
# POST   /_emulator/status               {"order_id": "...", "transaction_status": "settlement",
#                                         "fraud_status": null, "payment_type": "bank_transfer",
#                                         "gross_amount": null, "bank": null, "notify_url": null}
#                                        -> {"status": <status API body>, "notification": <result or null>}
# POST   /_emulator/chargeback           {"order_id": "...", "amount": null, "reason": null}: the customer's bank
#                                        reverses the payment (all that is left, or amount), as the dashboard then
#                                        reports -> the notification goes to the notification URL; answers the body
# PATCH  /_emulator/settings             {"timeoutSleep": 5, "notificationUrl": "http://.../notification"}
# POST   /_emulator/notifications        {"order_id": "...", "url": null, overrides as notification()}
#                                        -> {"notification": body, "http_status": ..., "response": ...}
# GET    /_emulator/faults               active fail rules
# POST   /_emulator/faults               {"fault": "fail_next", "count": 1, "status": 500|503|"timeout",
#                                         "method": "GET", "pathContains": "/status"}
# DELETE /_emulator/faults               clear them
# POST   /_emulator/challenge            {"order_id": "...", "gross_amount": null}: a card payment held for review
#                                        (capture + challenge), notified to notificationUrl
# POST   /_emulator/transactions/ORDER_ID/approve|deny   the dashboard's decision on a held card payment (notified)
# PATCH  /_emulator/settings             {"timeoutSleep": 5, "notificationUrl": "http://.../notification"}
# GET    /_emulator/requests             the API request log; DELETE clears it
# POST   /_emulator/reset                reset()

import requests
from werkzeug.wrappers import Request, Response

from ..serving import control_body, json_response, problem
from .ledger import RefundRefused

_ALIASES = {"pathContains": "path_contains", "timeoutSleep": "timeout_sleep", "n": "count", "orderId": "order_id",
            "transactionStatus": "transaction_status", "fraudStatus": "fraud_status", "paymentType": "payment_type",
            "grossAmount": "gross_amount", "statusCode": "status_code", "serverKey": "server_key",
            "notifyUrl": "notify_url", "webhook_url": "url", "notificationUrl": "notification_url"}
_NOTIFICATION_OVERRIDES = ("transaction_status", "fraud_status", "status_code", "gross_amount", "server_key")




def _body(request: Request) -> dict:
    return control_body(request, _ALIASES)


def handle(emulator, request: Request) -> Response:
    parts = request.path.strip("/").split("/")[1:]
    method = request.method
    try:
        body = _body(request) if method in ("POST", "PUT", "PATCH") else {}
        if not parts and method == "GET":
            return json_response(emulator.describe())
        if parts[:1] == ["transactions"] and method == "GET":
            records = emulator.transactions
            if len(parts) == 1:
                return json_response(records)
            if len(parts) == 2 and parts[1] in records:
                return json_response(records[parts[1]])
            return problem(f"no transaction for order {'/'.join(parts[1:])!r}", 404)
        if len(parts) == 3 and parts[0] == "transactions" and parts[2] in ("approve", "deny") and method == "POST":
            return json_response({"status": emulator.decide(parts[1], parts[2])})
        if parts == ["challenge"] and method == "POST":
            if not body.get("order_id"):
                return problem("send at least order_id")
            return json_response({"status": emulator.challenge(body["order_id"], body.get("gross_amount"))})
        if parts == ["status"] and method == "POST":
            return _set_status(emulator, body)
        if parts == ["notifications"] and method == "POST":
            return _notify(emulator, body)
        if parts == ["faults"]:
            return _faults(emulator, method, body)
        if parts == ["chargeback"] and method == "POST":
            if not body.get("order_id"):
                return problem("send at least order_id")
            try:
                return json_response(emulator.refund(body["order_id"], amount=body.get("amount"),
                                                     reason=body.get("reason"), chargeback=True))
            except RefundRefused as refusal:
                return problem(refusal.message, 404 if refusal.code == 404 else 409)
        if parts == ["settings"] and method in ("POST", "PUT", "PATCH"):
            if "timeout_sleep" in body:
                emulator.timeout_sleep = float(body["timeout_sleep"])
            if "notification_url" in body:
                emulator.notification_url = str(body["notification_url"] or "") or None
            return json_response(emulator.describe()["settings"])
        if parts == ["requests"] and method == "GET":
            return json_response([entry._asdict() for entry in list(emulator.requests)])
        if parts == ["requests"] and method == "DELETE":
            emulator.requests.clear()
            return json_response({"cleared": True})
        if parts == ["reset"] and method == "POST":
            emulator.reset()
            return json_response({"reset": True})
    except (ValueError, TypeError) as error:
        return problem(str(error))
    return problem(f"no emulator control at {method} {request.path}", 404)


def _set_status(emulator, body: dict) -> Response:
    if not body.get("order_id") or not body.get("transaction_status"):
        return problem("send at least order_id and transaction_status")
    status = emulator.set_status(body["order_id"], body["transaction_status"], fraud_status=body.get("fraud_status"),
                                 payment_type=body.get("payment_type") or "bank_transfer",
                                 gross_amount=body.get("gross_amount"), bank=body.get("bank"))
    result = None
    if body.get("notify_url"):
        result = _post(emulator, body["notify_url"], body["order_id"], {})
    return json_response({"status": status, "notification": result})


def _notify(emulator, body: dict) -> Response:
    if not body.get("order_id"):
        return problem("send at least order_id (and url to have it posted)")
    overrides = {key: body[key] for key in _NOTIFICATION_OVERRIDES if body.get(key) is not None}
    if not body.get("url"):
        return json_response({"notification": emulator.notification(body["order_id"], **overrides)})
    result = _post(emulator, body["url"], body["order_id"], overrides)
    return json_response(result, 200 if result["http_status"] is not None else 502)


def _post(emulator, url: str, order_id: str, overrides: dict) -> dict:
    notification = emulator.notification(order_id, **overrides)
    try:
        code, text = emulator.deliver(url, notification)
    except requests.RequestException as error:
        return {"notification": notification, "http_status": None, "response": f"{type(error).__name__}: {error}"}
    return {"notification": notification, "http_status": code, "response": text}


def _faults(emulator, method: str, body: dict) -> Response:
    if method == "GET":
        return json_response(emulator.describe()["faults"])
    if method == "DELETE":
        emulator.clear_faults()
        return json_response({"cleared": True})
    if method != "POST":
        return problem(f"{method} is not allowed on /_emulator/faults", 405)
    if body.get("fault", "fail_next") != "fail_next":
        return problem("fault must be fail_next")
    emulator.fail_next(int(body.get("count", 1)), status=body.get("status", 500), method=body.get("method"),
                       path_contains=body.get("path_contains"))
    return json_response(emulator.describe()["faults"], 201)
