"""refunds and chargebacks: each one recorded with its amount; an invoice keeps Midtrans' fraud status; a
subscription may be suspended because its payment was refunded or charged back

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

REASONS = "suspension_reason IS NULL OR suspension_reason IN ('non_payment', 'staff', 'customer'%s)"


def upgrade():
    op.create_table('refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('midtrans_id', sa.String(length=64), nullable=True),
    sa.Column('refund_key', sa.String(length=100), nullable=True),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('midtrans_time', sa.String(length=32), nullable=True),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_refunds_amount_positive')),
    sa.CheckConstraint("kind IN ('partial', 'full', 'chargeback')", name=op.f('ck_refunds_kind_known')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_refunds_invoice_id_invoices'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('invoice_id', 'midtrans_id', name='uq_refunds_invoice_id_midtrans_id'),
    sa.UniqueConstraint('invoice_id', 'refund_key', name='uq_refunds_invoice_id_refund_key')
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index('ix_refunds_refunded_at', ['refunded_at'], unique=False)
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fraud_status', sa.String(length=32), nullable=True))
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_subscriptions_suspension_reason_known'), type_='check')
        batch_op.create_check_constraint('suspension_reason_known', REASONS % ", 'refunded', 'chargeback'")


def downgrade():
    # A suspension over returned money reads as one set by staff on the older schema.
    op.execute("UPDATE subscriptions SET suspension_reason = 'staff' "
               "WHERE suspension_reason IN ('refunded', 'chargeback')")
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_subscriptions_suspension_reason_known'), type_='check')
        batch_op.create_check_constraint('suspension_reason_known', REASONS % "")
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('fraud_status')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_refunds_refunded_at')
        batch_op.drop_index(batch_op.f('ix_refunds_invoice_id'))
    op.drop_table('refunds')
