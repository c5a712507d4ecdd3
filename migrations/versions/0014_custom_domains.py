"""custom domains: a customer's own domain on an instance (punycode name unique across all instances, its DNS
ownership token and check, its certificate's state), and how many of them each plan includes

Revision ID: 0014
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('custom_domains', sa.Integer(), nullable=False, server_default='1'))
        batch_op.create_check_constraint(op.f('ck_plans_custom_domains_non_negative'), 'custom_domains >= 0')
    # The catalog's larger plans include more (service-templates/*.yaml say the same; seeding keeps them in step).
    op.execute("UPDATE plans SET custom_domains = 3 WHERE slug = 'pro'")
    op.execute("UPDATE plans SET custom_domains = 5 WHERE slug = 'business'")
    op.create_table(
        'custom_domains',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=253), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('is_primary', sa.Boolean(), server_default='0', nullable=False),
        sa.Column('dns_state', sa.String(length=16), server_default='pending', nullable=False),
        sa.Column('dns_problem', sa.Text(), nullable=True),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('certificate_state', sa.String(length=16), server_default='none', nullable=False),
        sa.Column('certificate_reason', sa.Text(), nullable=True),
        sa.Column('certificate_not_after', sa.DateTime(timezone=True), nullable=True),
        sa.Column('certificate_checked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'),
                  nullable=False),
        sa.CheckConstraint("dns_state IN ('pending', 'verified')", name=op.f('ck_custom_domains_dns_state_known')),
        sa.CheckConstraint("certificate_state IN ('none', 'pending', 'issued', 'failed')",
                           name=op.f('ck_custom_domains_certificate_state_known')),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                                name=op.f('fk_custom_domains_subscription_id_subscriptions'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_domains')),
        sa.UniqueConstraint('name', name=op.f('uq_custom_domains_name')),
    )
    with op.batch_alter_table('custom_domains', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_custom_domains_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_index('uq_custom_domains_one_primary', ['subscription_id'], unique=True,
                              postgresql_where=sa.text('is_primary'), sqlite_where=sa.text('is_primary'))


def downgrade():
    with op.batch_alter_table('custom_domains', schema=None) as batch_op:
        batch_op.drop_index('uq_custom_domains_one_primary', postgresql_where=sa.text('is_primary'),
                            sqlite_where=sa.text('is_primary'))
        batch_op.drop_index(batch_op.f('ix_custom_domains_subscription_id'))
    op.drop_table('custom_domains')
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_plans_custom_domains_non_negative'), type_='check')
        batch_op.drop_column('custom_domains')
