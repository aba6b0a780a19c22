"""compliance events, webhook deliveries, ZLD periods (issue 7)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 20:26:49.742751
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('compliance_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('outlet', sa.String(length=64), nullable=False),
    sa.Column('pollutant', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=1), nullable=False),
    sa.Column('limit_value', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('limit_kind', sa.String(length=16), nullable=False),
    sa.Column('start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('periods', sa.Integer(), nullable=False),
    sa.Column('peak', sa.Float(), nullable=False),
    sa.Column('peak_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_by', sa.String(length=200), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_id', 'outlet', 'pollutant', 'period', 'limit_value', 'start')
    )
    with op.batch_alter_table('compliance_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_compliance_events_org_id'), ['org_id'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=400), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['compliance_events.id'], name='fk_webhook_deliveries_event'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_org_id'), ['org_id'], unique=False)

    op.create_table('zld_periods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=True),
    sa.Column('plant', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('feed_m3', sa.Float(), nullable=False),
    sa.Column('distillate_reused_m3', sa.Float(), nullable=False),
    sa.Column('purge_m3', sa.Float(), nullable=False),
    sa.Column('discharge_m3', sa.Float(), nullable=False),
    sa.Column('tank_start_m3', sa.Float(), nullable=False),
    sa.Column('tank_end_m3', sa.Float(), nullable=False),
    sa.Column('vented_m3', sa.Float(), nullable=False),
    sa.Column('energy_kwh', sa.Float(), nullable=False),
    sa.Column('feed_tds_g_l', sa.Float(), nullable=True),
    sa.Column('purge_tds_g_l', sa.Float(), nullable=True),
    sa.Column('tolerance_pct', sa.Float(), nullable=False),
    sa.Column('salts', sa.JSON(), nullable=False),
    sa.Column('conversion', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], name='fk_zld_periods_batch'),
    sa.ForeignKeyConstraint(['line_id'], ['lines.id'], name='fk_zld_periods_line'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name='fk_zld_periods_site'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_id', 'plant', 'period_start')
    )
    with op.batch_alter_table('zld_periods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_zld_periods_org_id'), ['org_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('zld_periods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_zld_periods_org_id'))

    op.drop_table('zld_periods')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_org_id'))
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_event_id'))

    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('compliance_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_compliance_events_org_id'))

    op.drop_table('compliance_events')
