"""The trail is append-only: the app cannot change or delete a record, nor can SQL on the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from televisit.audit.models import AppendOnly, AuditEvent
from televisit.core.db import session_scope
from televisit.migrations import upgrade
from televisit.runtime import runtime_of
from tests.audit.helpers import audit_rows
from tests.migrations.test_migrations import empty_database, with_connection  # noqa: F401 - a fixture


async def test_the_orm_refuses_to_change_or_delete_a_record(factory, app):
    doctor = await factory.doctor()
    [signed_in] = await audit_rows(app, actor_id=doctor.id)
    maker = runtime_of(app).sessionmaker
    with pytest.raises(AppendOnly):
        async with session_scope(maker) as session:
            row = await session.get(AuditEvent, signed_in.id)
            row.outcome = "denied"
    with pytest.raises(AppendOnly):
        async with session_scope(maker) as session:
            await session.delete(await session.get(AuditEvent, signed_in.id))
    assert [r.outcome for r in await audit_rows(app, actor_id=doctor.id)] == ["success"]


async def test_the_database_refuses_update_and_delete_on_both_backends(factory, app):
    doctor = await factory.doctor()
    maker = runtime_of(app).sessionmaker
    for statement in (update(AuditEvent).values(outcome="denied"), delete(AuditEvent)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with session_scope(maker) as session:
                await session.execute(statement.execution_options(synchronize_session=False))
    assert [r.outcome for r in await audit_rows(app, actor_id=doctor.id)] == ["success"]


def test_migration_0004_keeps_old_records_and_names_their_actions_anew(empty_database):  # noqa: F811
    url = empty_database
    upgrade(url, "0002")
    user_id, event_id = uuid.uuid4(), uuid.uuid4()
    at = datetime(2030, 1, 2, 3, 4, tzinfo=UTC).replace(tzinfo=None)

    def seed(conn):
        uid, eid = (u.hex if conn.dialect.name == "sqlite" else u for u in (user_id, event_id))
        conn.execute(text("INSERT INTO users (id, email, full_name, role, password_hash, is_active, "
                          "created_at, updated_at) VALUES (:id, 'd@example.org', 'D', 'doctor', 'x', "
                          "true, :at, :at)"), {"id": uid, "at": at})
        conn.execute(text("INSERT INTO audit_events (id, occurred_at, actor_id, action, subject_type, "
                          "subject_id, data) VALUES (:id, :at, :uid, 'appointment.booked', "
                          "'appointment', NULL, NULL)"), {"id": eid, "at": at, "uid": uid})
        conn.commit()

    with_connection(url, seed)
    upgrade(url)
    rows = with_connection(url, lambda conn: conn.execute(text(
        "SELECT action, actor_role, outcome, object_type FROM audit_events")).all())
    assert [tuple(r) for r in rows] == [("appointment.book", "doctor", "success", "appointment")]
