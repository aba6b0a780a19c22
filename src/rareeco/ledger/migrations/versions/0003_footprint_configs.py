"""footprint configs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 15:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('footprint_configs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('added_by', sa.String(length=200), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('footprint_configs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_footprint_configs_org_id'), ['org_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('footprint_configs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_footprint_configs_org_id'))
    op.drop_table('footprint_configs')
