"""Integration API keys

Revision ID: 0010_api_keys
Revises: 0009_book_search
Create Date: 2026-11-28 03:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

import gate.models.types  # noqa: F401  (custom column types)

# revision identifiers, used by Alembic.
revision = '0010_api_keys'
down_revision = '0009_book_search'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', gate.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('revoked_at', gate.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.Integer(), nullable=True),
    sa.Column('last_used_at', gate.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_api_key_created_by_user')),
    sa.ForeignKeyConstraint(['revoked_by'], ['user.id'], name=op.f('fk_api_key_revoked_by_user')),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_api_key_site_id_site')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_api_key_unit_id_unit')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_api_key_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_key_prefix'))
    )
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_site_id'), ['site_id'], unique=False)


def downgrade():
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_site_id'))

    op.drop_table('api_key')
