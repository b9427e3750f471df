"""audit trail: outcome, role, client address, request id; append-only; no foreign key

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00.000000

The trail outlives accounts (no foreign key whose cascade would rewrite it) and is append-only:
triggers refuse UPDATE and DELETE on both backends. TRUNCATE (a privilege the app's role need
not have) stays the operator's way to purge after the retention period.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSAL = "audit_events is append-only"
SQLITE_TRIGGERS = {
    "audit_events_no_update": "UPDATE",
    "audit_events_no_delete": "DELETE",
}
RENAMED_ACTIONS = {"appointment.booked": "appointment.book", "appointment.cancelled": "appointment.cancel"}


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint('fk_audit_events_actor_id_users', type_='foreignkey')
        batch_op.drop_index('ix_audit_events_subject_id')
        batch_op.drop_index('ix_audit_events_occurred_at')
        batch_op.alter_column('subject_type', new_column_name='object_type',
                              existing_type=sa.String(length=32), existing_nullable=False)
        batch_op.alter_column('subject_id', new_column_name='object_id',
                              existing_type=sa.Uuid(), existing_nullable=True)
        batch_op.add_column(sa.Column('actor_role', sa.String(length=16), nullable=True))
        # Every record so far (bookings and cancellations) succeeded.
        batch_op.add_column(sa.Column('outcome', sa.String(length=16), nullable=False,
                                      server_default='success'))
        batch_op.add_column(sa.Column('client_ip', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('request_id', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('user_agent', sa.String(length=256), nullable=True))
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('outcome', server_default=None, existing_type=sa.String(length=16),
                              existing_nullable=False)
        batch_op.create_index('ix_audit_events_object_id', ['object_id'], unique=False)
        batch_op.create_index('ix_audit_events_action', ['action'], unique=False)
        batch_op.create_index('ix_audit_events_occurred_at_id', ['occurred_at', 'id'], unique=False)
    for old, new in RENAMED_ACTIONS.items():
        op.execute(sa.text("UPDATE audit_events SET action = :new WHERE action = :old").bindparams(old=old, new=new))
    op.execute("UPDATE audit_events SET actor_role = "
               "(SELECT users.role FROM users WHERE users.id = audit_events.actor_id)")
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    for old, new in RENAMED_ACTIONS.items():
        op.execute(sa.text("UPDATE audit_events SET action = :old WHERE action = :new").bindparams(old=old, new=new))
    # The foreign key comes back: records of accounts that are gone lose their actor.
    op.execute("UPDATE audit_events SET actor_id = NULL WHERE actor_id IS NOT NULL AND actor_id NOT IN "
               "(SELECT id FROM users)")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_occurred_at_id')
        batch_op.drop_index('ix_audit_events_action')
        batch_op.drop_index('ix_audit_events_object_id')
        batch_op.drop_column('user_agent')
        batch_op.drop_column('request_id')
        batch_op.drop_column('client_ip')
        batch_op.drop_column('outcome')
        batch_op.drop_column('actor_role')
        batch_op.alter_column('object_id', new_column_name='subject_id',
                              existing_type=sa.Uuid(), existing_nullable=True)
        batch_op.alter_column('object_type', new_column_name='subject_type',
                              existing_type=sa.String(length=32), existing_nullable=False)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_occurred_at', ['occurred_at'], unique=False)
        batch_op.create_index('ix_audit_events_subject_id', ['subject_id'], unique=False)
        batch_op.create_foreign_key('fk_audit_events_actor_id_users', 'users', ['actor_id'], ['id'],
                                    ondelete='SET NULL')


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'insufficient_privilege';
            END $$
        """)
        op.execute("CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")
        return
    for name, statement in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} BEFORE {statement} ON audit_events "
                   f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END")


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
