"""instance_events.phrase, custom_domains.dns_findings, restores.reason_phrase: stored texts kept as a catalog
message and its values, so each reader reads them in their own language (portal/phrases.py)

Revision ID: 0018
Revises: 0017
"""
import re

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


# (what the stored English starts with, its whole pattern, the catalog message, its field, the field's value)
PATTERNS = (("Scheduled on ", re.compile(r"^Scheduled on (\S+)\.$"), "Scheduled on %(node)s.", "node", str),
            ("Renewed until ", re.compile(r"^Renewed until (\d{4}-\d{2}-\d{2})\.$"), "Renewed until %(day)s.", "day",
             lambda day: {"day": day}))


def upgrade():
    with op.batch_alter_table('instance_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phrase', sa.JSON(), nullable=True))
    with op.batch_alter_table('custom_domains', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dns_findings', sa.JSON(), nullable=True))
    with op.batch_alter_table('restores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason_phrase', sa.JSON(), nullable=True))
    # The two timeline texts with a value that were read in the reader's language before, by their pattern, keep
    # being read so: their phrase is made from the stored English.
    events = sa.table('instance_events', sa.column('id', sa.Integer), sa.column('message', sa.Text),
                      sa.column('phrase', sa.JSON))
    connection = op.get_bind()
    for start, pattern, message, field, wrap in PATTERNS:
        rows = connection.execute(sa.select(events.c.id, events.c.message).where(
            events.c.message.like(start + "%"))).all()
        for row_id, text in rows:
            found = pattern.match(text)
            if found:
                connection.execute(events.update().where(events.c.id == row_id).values(
                    phrase={"message": message, "values": {field: wrap(found.group(1))}}))


def downgrade():
    with op.batch_alter_table('restores', schema=None) as batch_op:
        batch_op.drop_column('reason_phrase')
    with op.batch_alter_table('custom_domains', schema=None) as batch_op:
        batch_op.drop_column('dns_findings')
    with op.batch_alter_table('instance_events', schema=None) as batch_op:
        batch_op.drop_column('phrase')
