"""instance mail servers: a customer's own SMTP server for an instance's apps (the password stays in the cluster)

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('instance_mail_servers',
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('own_server', sa.Boolean(), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('tls_mode', sa.String(length=16), nullable=False),
    sa.Column('username', sa.String(length=254), nullable=False),
    sa.Column('sender', sa.String(length=254), nullable=False),
    sa.Column('password_set', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("tls_mode IN ('none', 'starttls', 'tls')", name=op.f('ck_instance_mail_servers_tls_mode_known')),
    sa.CheckConstraint('port BETWEEN 1 AND 65535', name=op.f('ck_instance_mail_servers_port_range')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                            name=op.f('fk_instance_mail_servers_subscription_id_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('subscription_id', name=op.f('pk_instance_mail_servers'))
    )


def downgrade():
    op.drop_table('instance_mail_servers')
