"""Development needs no mail server: messages land in a folder the developer opens at /dev/mailbox;
production has no such page, and without SMTP there, mail is off (due rows are skipped)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from televisit.app import create_app
from televisit.mail.models import MailKind, MailStatus
from tests.fixtures.app import client_for, make_settings
from tests.fixtures.logs import captured_logs
from tests.mail.helpers import drain, join_link, outbox, reparse


@pytest.fixture
def settings_overrides(tmp_path):
    return {"mail_dev_dir": str(tmp_path / "mailbox"),
            "session_idle_timeout": 7 * 24 * 3600, "session_absolute_lifetime": 30 * 24 * 3600}


async def test_messages_land_in_the_dev_mailbox(app, client, factory, settings, tmp_path):
    doctor = await factory.doctor(name="Dr. <i>Who</i>")
    patient = await factory.patient()
    await factory.appointment(doctor, patient, starts_in=timedelta(hours=3), reason="Cough")
    with captured_logs(settings.model_copy(update={"log_level": "INFO", "log_sql": False})) as logs:
        await drain(app)

    folder = tmp_path / "mailbox"
    [eml] = sorted(folder.glob("*.eml"))
    assert eml.with_suffix(".html").is_file()
    message = reparse(eml.read_bytes())
    assert message["To"].addresses[0].addr_spec == patient.email
    link, _token = join_link(message.get_body(("plain",)).get_content())
    assert link.startswith("http://127.0.0.1:8000/join#")  # the address `serve` listens on
    written = [line for line in logs.getvalue().splitlines() if "dev_mail_written" in line]
    assert len(written) == 1
    assert str(eml.with_suffix(".html").resolve()) in written[0]
    assert "http://127.0.0.1:8000/dev/mailbox" in written[0]

    page = await client.get("/dev/mailbox")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "Dr. &lt;i&gt;Who&lt;/i&gt;" in page.text
    [link] = re.findall(r'href="(/dev/mailbox/[^"]+\.html)"', page.text)
    shown = await client.get(link)
    assert shown.status_code == 200 and "Cough" in shown.text and "Dr. &lt;i&gt;Who" in shown.text
    raw = await client.get(link.replace(".html", ".eml"))
    assert raw.headers["content-type"].startswith("text/plain")
    assert "text/calendar" in raw.text and "METHOD=REQUEST" in raw.text.upper().replace('"', "")


async def test_the_mailbox_serves_nothing_outside_its_folder(app, client):
    escape = await client.get("/dev/mailbox/..%2F..%2F..%2Fetc%2Fpasswd.eml")
    assert escape.status_code != 200 and "root:" not in escape.text  # the route never matches it
    for path in ("/dev/mailbox/20300101-000000-x.html",
                 "/dev/mailbox/20300101-000000-00000000000000000000000000000000.html",
                 "/dev/mailbox/20300101-000000-00000000000000000000000000000000.py"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


async def test_empty_mailbox_says_so(client):
    page = await client.get("/dev/mailbox")
    assert page.status_code == 200 and "No messages yet" in page.text


async def test_production_has_no_mailbox_and_without_smtp_mail_is_off(database_url, clock, tmp_path):
    settings = make_settings(database_url, env="production", mail_dev_dir=str(tmp_path / "mailbox"))
    app = create_app(settings, clock=clock, configure_logs=False)
    async with app.router.lifespan_context(app), client_for(app) as client:
        response = await client.get("/dev/mailbox")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        from tests.fixtures.factories import Factory

        factory = Factory(app, client, clock)
        doctor, patient = await factory.doctor(), await factory.patient()
        await factory.appointment(doctor, patient, starts_in=timedelta(hours=3))
        await drain(app)
        row = next(r for r in await outbox(app) if r.kind == MailKind.invitation)
        assert (row.status, row.last_error) == (MailStatus.skipped, "mail is off")
    assert not (tmp_path / "mailbox").exists()
