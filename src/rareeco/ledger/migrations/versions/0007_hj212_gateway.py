"""HJ 212 gateway: CEMS stations, the durable log of accepted frames, gateway findings (issue 7)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 18:46:40.384016
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gateway_findings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('peer', sa.String(length=64), nullable=False),
    sa.Column('mn', sa.String(length=24), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('excerpt', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('gateway_findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gateway_findings_org_id'), ['org_id'], unique=False)

    op.create_table('hj212_frames',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('qn', sa.String(length=20), nullable=True),
    sa.Column('cn', sa.String(length=4), nullable=False),
    sa.Column('st', sa.String(length=4), nullable=True),
    sa.Column('data_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('peer', sa.String(length=64), nullable=False),
    sa.Column('segment', sa.Text(), nullable=False),
    sa.Column('processed', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('hj212_frames', schema=None) as batch_op:
        batch_op.create_index('ix_hj212_frames_station_time', ['station_id', 'data_time'], unique=False)

    op.create_table('cems_stations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('mn', sa.String(length=24), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_sha256', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('mn')
    )
    with op.batch_alter_table('cems_stations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cems_stations_org_id'), ['org_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cems_stations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cems_stations_org_id'))

    op.drop_table('cems_stations')
    with op.batch_alter_table('hj212_frames', schema=None) as batch_op:
        batch_op.drop_index('ix_hj212_frames_station_time')

    op.drop_table('hj212_frames')
    with op.batch_alter_table('gateway_findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gateway_findings_org_id'))

    op.drop_table('gateway_findings')
