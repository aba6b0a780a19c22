"""Meters tree, time series (raw points, roll-ups, batches) and the energy-measures register (issue 6)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 17:44:16.932981
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('points',
    sa.Column('series_id', sa.Integer(), nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('flag', sa.String(length=4), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('series_id', 'ts'),
    sqlite_with_rowid=False
    )
    op.create_table('rollups',
    sa.Column('series_id', sa.Integer(), nullable=False),
    sa.Column('grain', sa.String(length=1), nullable=False),
    sa.Column('start', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('low', sa.Float(), nullable=False),
    sa.Column('high', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('series_id', 'grain', 'start'),
    sqlite_with_rowid=False
    )
    op.create_table('series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('interval_s', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_id', 'key')
    )
    with op.batch_alter_table('series', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_series_org_id'), ['org_id'], unique=False)

    op.create_table('series_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=400), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('points_stored', sa.BigInteger(), nullable=False),
    sa.Column('points_duplicate', sa.BigInteger(), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_id', 'sha256')
    )
    with op.batch_alter_table('series_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_series_batches_org_id'), ['org_id'], unique=False)

    op.create_table('energy_measures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=True),
    sa.Column('in_service', sa.Date(), nullable=False),
    sa.Column('ipmvp_option', sa.String(length=1), nullable=False),
    sa.Column('meter_id', sa.Integer(), nullable=True),
    sa.Column('cost_cny', sa.Float(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['lines.id'], ),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], ),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_id', 'code')
    )
    with op.batch_alter_table('energy_measures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_energy_measures_org_id'), ['org_id'], unique=False)

    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('role', sa.String(length=16), nullable=False, server_default='main'))
        batch_op.add_column(sa.Column('name', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('series_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_meters_series_id', 'series', ['series_id'], ['id'])
        batch_op.create_foreign_key('fk_meters_parent_id', 'meters', ['parent_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.drop_constraint('fk_meters_parent_id', type_='foreignkey')
        batch_op.drop_constraint('fk_meters_series_id', type_='foreignkey')
        batch_op.drop_column('series_id')
        batch_op.drop_column('name')
        batch_op.drop_column('role')
        batch_op.drop_column('parent_id')

    with op.batch_alter_table('energy_measures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_energy_measures_org_id'))

    op.drop_table('energy_measures')
    with op.batch_alter_table('series_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_series_batches_org_id'))

    op.drop_table('series_batches')
    with op.batch_alter_table('series', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_series_org_id'))

    op.drop_table('series')
    op.drop_table('rollups')
    op.drop_table('points')
