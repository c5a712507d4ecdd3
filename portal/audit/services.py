"""Writing audit entries."""
from portal.audit.models import AuditEntry
from portal.extensions import db


def audit_record(*, action: str, actor_id: int | None, target_type: str | None = None,
                 target_id: int | str | None = None, ip: str | None = None,
                 details: dict | None = None) -> AuditEntry:
    """Add an entry to the caller's transaction; the caller commits with the change it records."""
    entry = AuditEntry(action=action, actor_id=actor_id, target_type=target_type,
                       target_id=None if target_id is None else str(target_id), ip=ip,
                       details=details or {})
    db.session.add(entry)
    return entry
