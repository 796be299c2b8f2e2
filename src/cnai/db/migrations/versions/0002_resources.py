"""resources: declarative desired state (Deployment, Monitor, ...)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 23:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('resources',
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('api_version', sa.String(length=64), nullable=False),
    sa.Column('labels', sa.Text(), nullable=False),
    sa.Column('spec', sa.Text(), nullable=False),
    sa.Column('generation', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('observed_generation', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'name', name=op.f('pk_resources'))
    )


def downgrade() -> None:
    op.drop_table('resources')
