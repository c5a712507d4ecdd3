"""a customer's "cancel now" suspends with reason customer (data kept until retention ends)

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

OLD = "suspension_reason IS NULL OR suspension_reason IN ('non_payment', 'staff')"
NEW = "suspension_reason IS NULL OR suspension_reason IN ('non_payment', 'staff', 'customer')"


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_subscriptions_suspension_reason_known'), type_='check')
        batch_op.create_check_constraint('suspension_reason_known', NEW)


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_subscriptions_suspension_reason_known'), type_='check')
        batch_op.create_check_constraint('suspension_reason_known', OLD)
