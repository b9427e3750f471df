"""What a booked, moved or cancelled visit sends, as a mail client receives it from a real SMTP
server: headers, both bodies, the calendar entry, the time in the reader's own zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from televisit.mail.models import MailKind, MailStatus
from tests.fixtures.app import START
from tests.mail.conftest import PUBLIC_URL
from tests.mail.helpers import (
    calendar_of,
    drain,
    has_calendar,
    html_of,
    join_link,
    open_join_link,
    outbox,
    set_time_zone,
    text_of,
)
from tests.mail.smtp import wait_for_mail

URL = "/api/v1/appointments"
# 2030-03-06 14:30 UTC is 15:30 in Berlin (CET) and 09:30 in New York (EST).
VISIT_AT = datetime(2030, 3, 6, 14, 30, tzinfo=UTC)


def subject(message) -> str:
    """The Subject as a mail client shows it (Python folds some long ones after `Subject:`)."""
    return str(message["Subject"]).strip()


def by_subject(messages, *starts: str):
    """Messages due in the same instant leave in any order (calendars order them by SEQUENCE)."""
    found = []
    for start in starts:
        [match] = [m for m in messages if subject(m).startswith(start) and
                   (start != "Your video visit with" or "moved" not in subject(m))]
        found.append(match)
    return found


async def _pair(factory, client):
    doctor = await factory.doctor(name="Dr. Grace <b>Hopper</b>")
    patient = await factory.patient(name="Alice & Co")
    await set_time_zone(client, patient, "Europe/Berlin")
    await set_time_zone(client, doctor, "America/New_York")
    return doctor, patient


async def test_booking_sends_the_patient_an_invitation_with_a_calendar_entry(app, client, factory, smtp):
    doctor, patient = await _pair(factory, client)
    visit = await factory.appointment(doctor, patient, starts_at=VISIT_AT, duration_minutes=45,
                                      reason="Itchy rash on the left arm")
    await drain(app)

    [message] = await wait_for_mail(smtp.inbox, 1)
    received = smtp.inbox.received[0]
    assert received.rcpt_tos == [patient.email]
    assert received.mail_from == "visits@clinic.example"
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Alice & Co", patient.email)
    assert message["From"] == "Sunrise Clinic <visits@clinic.example>"
    assert message["Auto-Submitted"] == "auto-generated"
    row = next(r for r in await outbox(app) if r.kind == MailKind.invitation)
    assert message["Message-ID"] == f"<{row.id}@clinic.example>"
    title = subject(message)
    assert "Hopper" in title and "Wed 6 Mar, 15:30 CET" in title
    assert "rash" not in title.lower()

    text, html = text_of(message), html_of(message)
    # The link opens the visit without a password: a token after `#`, never in a path or query.
    link, token = join_link(text)
    assert link == f"{PUBLIC_URL}/join#{token}"
    for body in (text, html):
        assert "Wednesday 6 March 2030, 15:30 (CET, Europe/Berlin)" in body
        assert "45 minutes" in body
        assert "Itchy rash on the left arm" in body  # the patient's own reason, to the patient
        assert link in body and "/visits/" not in body
        assert "Sunrise Clinic" in body
    joined = await open_join_link(client, token)
    assert joined.status_code == 200, joined.text
    assert joined.json()["appointment_id"] == visit["id"]
    assert joined.json()["user"]["id"] == str(patient.id)
    assert "Dr. Grace <b>Hopper</b>" in text
    assert "Dr. Grace &lt;b&gt;Hopper&lt;/b&gt;" in html and "<b>Hopper" not in html
    assert "Alice &amp; Co" in html
    # Nothing remote: no images, scripts or style sheets to fetch.
    assert not re.search(r"<img|<script|<link|src=|url\(", html, re.I)

    calendar, event, part = calendar_of(message)
    assert part.get_param("method") == "REQUEST"
    assert part.get_filename() == "invite.ics"
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == f"{visit['id']}@televisit.clinic.example"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == VISIT_AT
    assert event.decoded("DTEND") == VISIT_AT + timedelta(minutes=45)
    assert str(event["LOCATION"]) == link and str(event["URL"]) == link
    assert "rash" not in calendar.to_ical().decode().lower()  # calendars get shared; emails do not
    [alarm] = list(event.walk("VALARM"))
    assert alarm.decoded("TRIGGER") == -timedelta(minutes=15)
    assert str(event["ORGANIZER"]) == "mailto:visits@clinic.example"
    assert str(event["ATTENDEE"]) == f"mailto:{patient.email}"


async def test_a_refused_booking_leaves_no_message_behind(app, client, factory, smtp):
    doctor, patient = await _pair(factory, client)
    await factory.appointment(doctor, patient, starts_at=VISIT_AT)
    before = await outbox(app)
    clash = await client.post(URL, headers=doctor.headers, json={
        "patient_id": str(patient.id), "starts_at": VISIT_AT.isoformat(), "duration_minutes": 30})
    assert clash.status_code == 409
    assert [r.id for r in await outbox(app)] == [r.id for r in before]
    # The booking that went through committed its invitation and its two reminders with it.
    assert sorted(r.kind for r in before) == [MailKind.invitation, MailKind.reminder, MailKind.reminder]


async def test_moving_a_visit_sends_the_patient_an_update_with_a_higher_sequence(app, client, factory, smtp):
    doctor, patient = await _pair(factory, client)
    visit = await factory.appointment(doctor, patient, starts_at=VISIT_AT, reason="Follow-up")
    await drain(app)  # the invitation leaves with the link of its moment
    moved_to = VISIT_AT + timedelta(days=1, hours=2)
    response = await client.patch(f"{URL}/{visit['id']}", headers=doctor.headers,
                                  json={"starts_at": moved_to.isoformat(), "duration_minutes": 20})
    assert response.status_code == 200, response.text
    await drain(app)

    invitation, change = by_subject(await wait_for_mail(smtp.inbox, 2), "Your video visit with",
                                    "Your video visit with Dr. Grace <b>Hopper</b> has moved")
    assert "moved" in subject(change) and "Thu 7 Mar, 17:30 CET" in subject(change)
    text = text_of(change)
    assert "Thursday 7 March 2030, 17:30 (CET, Europe/Berlin)" in text
    assert "It was Wednesday 6 March 2030, 15:30 (CET, Europe/Berlin) (30 minutes)" in text
    assert "20 minutes" in text
    assert "Follow-up" not in text  # the reason travels once, in the invitation
    _, first, _ = calendar_of(invitation)
    calendar, event, part = calendar_of(change)
    assert calendar["METHOD"] == "REQUEST" and part.get_param("method") == "REQUEST"
    assert event["UID"] == first["UID"]
    assert event["SEQUENCE"] == 1
    assert event.decoded("DTSTART") == moved_to
    assert event.decoded("DTEND") == moved_to + timedelta(minutes=20)
    # A move withdraws the old link and sends a new one (in the text and the calendar entry).
    _old, old_token = join_link(text_of(invitation))
    new_link, new_token = join_link(text)
    assert new_token != old_token and str(event["URL"]) == new_link == str(event["LOCATION"])
    refused = await open_join_link(client, old_token)
    assert refused.status_code == 410 and refused.json()["error"]["code"] == "join_link_revoked"
    assert refused.json()["error"]["details"] == {"reason": "moved"}
    assert "newest email" in refused.json()["error"]["message"]
    assert (await open_join_link(client, new_token)).status_code == 200


async def test_the_doctor_cancelling_tells_the_patient_and_removes_the_calendar_entry(
        app, client, factory, smtp):
    doctor, patient = await _pair(factory, client)
    visit = await factory.appointment(doctor, patient, starts_at=VISIT_AT)
    await drain(app)
    await client.patch(f"{URL}/{visit['id']}", headers=doctor.headers, json={"duration_minutes": 40})
    await drain(app)
    response = await client.post(f"{URL}/{visit['id']}/cancel", headers=doctor.headers,
                                 json={"reason": "Doctor unwell"})
    assert response.status_code == 200
    await drain(app)

    invitation, change, cancellation = by_subject(await wait_for_mail(smtp.inbox, 3), "Your video visit with",
                                                  "Your video visit with Dr. Grace <b>Hopper</b> has moved",
                                                  "Cancelled")
    assert {r.rcpt_tos[0] for r in smtp.inbox.received} == {patient.email}
    assert subject(cancellation).startswith("Cancelled: video visit with Dr. Grace <b>Hopper</b>")
    assert "cancelled your video visit" in text_of(cancellation)
    assert "Doctor unwell" not in text_of(cancellation)
    calendar, event, part = calendar_of(cancellation)
    assert calendar["METHOD"] == "CANCEL" and part.get_param("method") == "CANCEL"
    assert event["UID"] == calendar_of(invitation)[1]["UID"]
    assert event["SEQUENCE"] == 2
    assert str(event["STATUS"]) == "CANCELLED"
    assert not list(event.walk("VALARM"))
    # No link that opens the visit any more: the cancellation points to the visit's page.
    assert "/join#" not in text_of(cancellation) and f"/visits/{visit['id']}" in text_of(cancellation)
    refused = await open_join_link(client, join_link(text_of(change))[1])  # the newest link
    assert refused.status_code == 410 and refused.json()["error"]["details"] == {"reason": "cancelled"}
    assert "cancelled" in refused.json()["error"]["message"]


async def test_the_patient_cancelling_tells_the_doctor_in_the_doctors_time_zone(app, client, factory, smtp):
    doctor, patient = await _pair(factory, client)
    visit = await factory.appointment(doctor, patient, starts_at=VISIT_AT, reason="Private matter")
    await client.post(f"{URL}/{visit['id']}/cancel", headers=patient.headers)
    await drain(app)

    [cancellation] = by_subject(await wait_for_mail(smtp.inbox, 2), "Cancelled")
    assert sorted(r.rcpt_tos[0] for r in smtp.inbox.received) == sorted([patient.email, doctor.email])
    assert cancellation["To"].addresses[0].addr_spec == doctor.email
    text = text_of(cancellation)
    assert "Alice & Co cancelled your video visit" in text
    assert "Wednesday 6 March 2030, 09:30 (EST, America/New_York)" in text
    assert "Private matter" not in text + html_of(cancellation)  # the reason goes to the patient only
    assert not has_calendar(cancellation)  # the doctor never got a calendar entry to remove


async def test_a_row_is_sent_once_and_marked_sent(app, client, factory, smtp):
    doctor, patient = await _pair(factory, client)
    await factory.appointment(doctor, patient, starts_at=START + timedelta(hours=2))
    await drain(app)
    await drain(app)
    await wait_for_mail(smtp.inbox, 1)
    invitation = next(r for r in await outbox(app) if r.kind == MailKind.invitation)
    assert invitation.status == MailStatus.sent
    assert invitation.sent_at == START and invitation.attempts == 1
    assert len(smtp.inbox.received) == 1
