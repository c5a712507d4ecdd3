"""billing dead fields: a notification's signature_valid (always true) and outcome (always "received") go, and the
Snap token and page live only on the payment attempt, not copied onto the invoice

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payment_notifications', schema=None) as batch_op:
        batch_op.drop_column('outcome')
        batch_op.drop_column('signature_valid')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('snap_redirect_url')
        batch_op.drop_column('snap_token')


def downgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('snap_token', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('snap_redirect_url', sa.String(length=1000), nullable=True))
    # The invoice's copy was its current attempt's (the one holding its order id).
    op.execute("UPDATE invoices SET "
               "snap_token = (SELECT a.snap_token FROM payment_attempts a WHERE a.order_id = invoices.order_id), "
               "snap_redirect_url = (SELECT a.snap_redirect_url FROM payment_attempts a "
               "WHERE a.order_id = invoices.order_id)")
    with op.batch_alter_table('payment_notifications', schema=None) as batch_op:
        # Only trusted notifications were ever stored, all with the outcome "received".
        batch_op.add_column(sa.Column('signature_valid', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('outcome', sa.String(length=64), nullable=False, server_default='received'))
