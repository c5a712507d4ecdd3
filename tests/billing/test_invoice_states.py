"""The invoice state machine: one function writes Invoice.state, refuses illegal moves, and payments answer values."""
import ast
from pathlib import Path

import pytest

from portal.billing import services
from portal.billing.models import Invoice
from portal.billing.states import IllegalInvoiceTransition, PaymentResult, invoice_transition
from portal.extensions import db

PORTAL = Path(__file__).resolve().parents[2] / "portal"
STATE_MACHINE = PORTAL / "billing" / "states.py"


def _state_writes(path: Path) -> list[tuple[int, str]]:
    """Every `x.state = ...` (or augmented) in a module, with the name of what is written to."""
    writes = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AugAssign | ast.AnnAssign) else []
        for target in targets:
            for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                if isinstance(element, ast.Attribute) and element.attr == "state":
                    writes.append((node.lineno, ast.unparse(element.value)))
    return writes


def test_only_the_state_machine_writes_an_invoice_state():
    offenders = []
    for path in sorted(PORTAL.rglob("*.py")):
        if path == STATE_MACHINE:
            continue
        for line, owner in _state_writes(path):
            # In billing every `.state` is an invoice's; elsewhere, anything named like an invoice.
            if path.parent.name == "billing" or "invoice" in owner.lower():
                offenders.append(f"{path.relative_to(PORTAL.parent)}:{line} {owner}.state")
    assert offenders == []


def test_an_illegal_move_is_refused_and_leaves_the_invoice_alone(app, order):
    invoice = order()
    invoice_transition(invoice, "paid")
    with pytest.raises(IllegalInvoiceTransition) as refused:
        invoice_transition(invoice, "pending")
    assert (refused.value.source, refused.value.target) == ("paid", "pending")
    assert invoice.state == "paid"
    db.session.rollback()


def test_applying_a_status_answers_a_value_with_the_move_it_made(app, order):
    invoice = order()
    paid = services.invoice_apply_status(invoice_id=invoice.id, order_id=invoice.order_id,
                                         transaction_status="settlement", fraud_status=None, payment_type="qris")
    assert paid == PaymentResult(changed=True, from_state="pending", to_state="paid")
    again = services.invoice_apply_status(invoice_id=invoice.id, order_id=invoice.order_id,
                                          transaction_status="settlement", fraud_status=None, payment_type="qris")
    assert not again.changed and (again.from_state, again.to_state) == ("paid", "paid")
    assert str(again) == "unchanged (paid, settlement)" and str(paid) == "pending -> paid"
    assert db.session.get(Invoice, invoice.id).state == "paid"
