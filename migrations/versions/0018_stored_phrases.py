"""instance_events.phrase, custom_domains.dns_findings, restores.reason_phrase: stored texts kept as a catalog
message and its values, so each reader reads them in their own language (portal/phrases.py)

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('instance_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phrase', sa.JSON(), nullable=True))
    with op.batch_alter_table('custom_domains', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dns_findings', sa.JSON(), nullable=True))
    with op.batch_alter_table('restores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason_phrase', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('restores', schema=None) as batch_op:
        batch_op.drop_column('reason_phrase')
    with op.batch_alter_table('custom_domains', schema=None) as batch_op:
        batch_op.drop_column('dns_findings')
    with op.batch_alter_table('instance_events', schema=None) as batch_op:
        batch_op.drop_column('phrase')
