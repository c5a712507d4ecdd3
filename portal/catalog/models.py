"""Catalog apps (services) and the plans they are sold in."""
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timestamps import UtcDateTime


class Service(db.Model):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(60), default="")
    logo: Mapped[str] = mapped_column(String(255), default="")
    template_file: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())

    plans: Mapped[list["Plan"]] = relationship(back_populates="service", order_by="Plan.price_idr")


class Plan(db.Model):
    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("service_id", "slug", name="uq_plans_service_slug"),
        CheckConstraint("price_idr >= 0", name="price_non_negative"),
        CheckConstraint("period_days > 0", name="period_positive"),
        CheckConstraint("cpu_millicores > 0 AND memory_mb > 0 AND storage_gb >= 0", name="resources_positive"),
        CheckConstraint("custom_domains >= 0", name="custom_domains_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="RESTRICT"), index=True)
    slug: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(120))
    cpu_millicores: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    storage_gb: Mapped[int] = mapped_column(Integer)
    price_idr: Mapped[int] = mapped_column(Integer)
    period_days: Mapped[int] = mapped_column(Integer, default=30)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # How many of the customer's own domains an instance on this plan may serve (0: the provider's address only).
    custom_domains: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    service: Mapped[Service] = relationship(back_populates="plans")
