"""payment inbox: a notification is stored at the door and applied later by a worker, once; it records when it
was applied and what that did, its attempts and next attempt, and a fingerprint that stores a repeat once

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payment_notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transaction_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('result', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.String(length=300), nullable=True))
        batch_op.create_unique_constraint(op.f('uq_payment_notifications_once'),
                                          ['order_id', 'transaction_status', 'fingerprint'])
        batch_op.create_check_constraint(op.f('ck_payment_notifications_attempts_non_negative'), 'attempts >= 0')
    # Before the inbox every stored notification was applied in the request that stored it.
    op.execute("UPDATE payment_notifications SET applied_at = received_at, result = 'applied when received'")
    op.create_index('ix_payment_notifications_waiting', 'payment_notifications', ['received_at'], unique=False,
                    postgresql_where=sa.text('applied_at IS NULL'), sqlite_where=sa.text('applied_at IS NULL'))


def downgrade():
    op.drop_index('ix_payment_notifications_waiting', table_name='payment_notifications',
                  postgresql_where=sa.text('applied_at IS NULL'), sqlite_where=sa.text('applied_at IS NULL'))
    with op.batch_alter_table('payment_notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payment_notifications_attempts_non_negative'), type_='check')
        batch_op.drop_constraint(op.f('uq_payment_notifications_once'), type_='unique')
        batch_op.drop_column('last_error')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('result')
        batch_op.drop_column('applied_at')
        batch_op.drop_column('fingerprint')
        batch_op.drop_column('transaction_id')
