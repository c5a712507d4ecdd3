"""payment review and late payments: attempts keep Midtrans' status and fraud status, invoices may be under review
or owe a refund, and a cancelled order lets its address go

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OLD_STATES = "state IN ('pending', 'paid', 'failed', 'refunded', 'cancelled')"
NEW_STATES = "state IN ('pending', 'review', 'paid', 'failed', 'refunded', 'cancelled', 'refund_due')"
HELD = sa.text("state <> 'cancelled'")


def upgrade():
    with op.batch_alter_table('payment_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transaction_status', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('fraud_status', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('status_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_invoices_state_known'), type_='check')
        batch_op.create_check_constraint('state_known', NEW_STATES)
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('uq_subscriptions_subdomain'), type_='unique')
    op.create_index('uq_subscriptions_subdomain_held', 'subscriptions', ['subdomain'], unique=True,
                    postgresql_where=HELD, sqlite_where=HELD)


def downgrade():
    op.drop_index('uq_subscriptions_subdomain_held', table_name='subscriptions')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_unique_constraint(op.f('uq_subscriptions_subdomain'), ['subdomain'])
    op.execute("UPDATE invoices SET state = 'paid' WHERE state = 'refund_due'")
    op.execute("UPDATE invoices SET state = 'pending' WHERE state = 'review'")
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_invoices_state_known'), type_='check')
        batch_op.create_check_constraint('state_known', OLD_STATES)
    with op.batch_alter_table('payment_attempts', schema=None) as batch_op:
        batch_op.drop_column('status_at')
        batch_op.drop_column('fraud_status')
        batch_op.drop_column('transaction_status')
