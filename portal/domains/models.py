"""A custom domain on an instance: its name (punycode, one instance across all customers), its DNS ownership
check and its certificate's state as cert-manager last reported it."""
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db, one_of
from portal.subscriptions.models import Subscription
from portal.timestamps import UtcDateTime

DNS_STATES = ("pending", "verified")
# none: not on the cluster yet (DNS not verified); pending: cert-manager is issuing; issued; failed: it says why.
CERTIFICATE_STATES = ("none", "pending", "issued", "failed")


class CustomDomain(db.Model):
    __tablename__ = "custom_domains"
    __table_args__ = (
        CheckConstraint(one_of("dns_state", DNS_STATES), name="dns_state_known"),
        CheckConstraint(one_of("certificate_state", CERTIFICATE_STATES), name="certificate_state_known"),
        # At most one primary per instance: the address the app calls itself by, the others redirect to it.
        Index("uq_custom_domains_one_primary", "subscription_id", unique=True,
              postgresql_where=text("is_primary"), sqlite_where=text("is_primary")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    # The ASCII (punycode) form, lowercased, without the trailing dot: one domain belongs to one instance.
    name: Mapped[str] = mapped_column(String(253), unique=True)
    token: Mapped[str] = mapped_column(String(64))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    dns_state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    dns_problem: Mapped[str | None] = mapped_column(Text)  # the last check's findings in English (staff, logs)
    dns_findings: Mapped[list | None] = mapped_column(JSON)  # the same as phrases, read in each reader's language
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    certificate_state: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    certificate_reason: Mapped[str | None] = mapped_column(Text)
    certificate_not_after: Mapped[datetime | None] = mapped_column(UtcDateTime)
    certificate_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())

    subscription: Mapped[Subscription] = relationship()

    @property
    def display_name(self) -> str:
        from portal.domains.names import unicode_name

        return unicode_name(self.name)
