"""admin: substring-search indexes, revenue index, task failures

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 21:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

SUBSTRING_INDEXES = [('ix_users_email_trgm', 'users', 'email'), ('ix_users_name_trgm', 'users', 'name'),
                     ('ix_subscriptions_subdomain_trgm', 'subscriptions', 'subdomain'),
                     ('ix_emails_recipient_trgm', 'emails', 'recipient'),
                     ('ix_invoices_order_id_trgm', 'invoices', 'order_id')]


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        # Trigram indexes serve LIKE '%text%' searches on the admin pages (pg_trgm is a trusted extension).
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.create_table('task_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task', sa.String(length=100), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('arguments', sa.String(length=500), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('retries_left', sa.Integer(), nullable=False),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_failures'))
    )
    with op.batch_alter_table('task_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_failures_failed_at'), ['failed_at'], unique=False)
    for name, table, column in SUBSTRING_INDEXES:
        op.create_index(name, table, [column], unique=False, postgresql_using='gin',
                        postgresql_ops={column: 'gin_trgm_ops'})
    op.create_index('ix_emails_template', 'emails', ['template'], unique=False)
    op.create_index('ix_invoices_state_paid_at', 'invoices', ['state', 'paid_at'], unique=False)


def downgrade():
    op.drop_index('ix_invoices_state_paid_at', table_name='invoices')
    op.drop_index('ix_emails_template', table_name='emails')
    for name, table, _ in SUBSTRING_INDEXES:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table('task_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_failures_failed_at'))
    op.drop_table('task_failures')
