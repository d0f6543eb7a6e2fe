"""Webhooks: subscriptions that tail a site's shift book over HTTP

Revision ID: 0011_webhooks
Revises: 0010_api_keys
Create Date: 2026-11-28 03:45:00.000000

"""
from alembic import op
import sqlalchemy as sa

import gate.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '0011_webhooks'
down_revision = '0010_api_keys'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('webhook_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('kinds', sa.JSON(), nullable=False),
    sa.Column('secret_enc', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('failing_since', gate.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', gate.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('last_attempt_at', gate.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', gate.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_token', sa.String(length=32), nullable=True),
    sa.Column('lease_until', gate.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', gate.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('removed_at', gate.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'],
                            name=op.f('fk_webhook_subscription_created_by_id_user')),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_webhook_subscription_site_id_site')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscription'))
    )
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_subscription_state_next', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_subscription_site_id'), ['site_id'], unique=False)


def downgrade():
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_subscription_site_id'))
        batch_op.drop_index('ix_webhook_subscription_state_next')

    op.drop_table('webhook_subscription')
