"""SMTP the ways a clinic runs it: STARTTLS or TLS with a password in the URL (percent-encoded),
checked against the server's certificate, and the password never in a log or an error."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from televisit.core.config import ConfigError, load_settings
from televisit.mail.models import MailKind, MailStatus
from tests.deploy.certs import make_certificates
from tests.fixtures.app import TEST_SECRET
from tests.fixtures.logs import captured_logs
from tests.mail.conftest import mail_settings
from tests.mail.helpers import drain, outbox
from tests.mail.smtp import SmtpServer, smtp_server, wait_for_mail

# aiosmtpd treats only STARTTLS as TLS, so over smtps it warns that AUTH is allowed "without" it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
USER, PASSWORD = "televisit@clinic.example", "s3cret:p@ss/word%"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_certificates(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture(params=["smtp+starttls", "smtps"])
def smtp(request, certs) -> Iterator[SmtpServer]:
    with smtp_server(scheme=request.param, credentials=(USER, PASSWORD), certs=certs) as server:
        yield server


@pytest.fixture
def settings_overrides(smtp, request):
    url = smtp.url
    if "bad_password" in request.node.name:
        url = url.replace("s3cret", "guessed")
    return mail_settings(url)


async def test_sends_over_tls_with_the_password_from_the_url(app, factory, smtp, settings):
    doctor, patient = await factory.doctor(), await factory.patient()
    with captured_logs(settings.model_copy(update={"log_level": "INFO", "log_sql": False})) as logs:
        await factory.appointment(doctor, patient, starts_in=timedelta(hours=5))
        await drain(app)
    [message] = await wait_for_mail(smtp.inbox, 1)
    assert message["To"].addresses[0].addr_spec == patient.email
    assert "s3cret" not in logs.getvalue()


async def test_bad_password_keeps_the_message_for_later(app, factory, smtp, settings):
    doctor, patient = await factory.doctor(), await factory.patient()
    with captured_logs(settings.model_copy(update={"log_level": "INFO", "log_sql": False})) as logs:
        await factory.appointment(doctor, patient, starts_in=timedelta(hours=5))
        await drain(app)
    row = next(r for r in await outbox(app) if r.kind == MailKind.invitation)
    assert (row.status, row.last_error) == (MailStatus.pending, "SMTPAuthenticationError 535")
    assert "guessed" not in logs.getvalue() and "guessed" not in repr(settings)
    assert smtp.inbox.received == []


def test_the_url_is_a_secret_in_the_settings():
    settings = load_settings(smtp_url=f"smtps://{USER}:{PASSWORD}@mail.example:465")
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())


def test_refuses_an_unknown_scheme_without_echoing_the_url():
    with pytest.raises(ConfigError) as caught:
        load_settings(smtp_url="smtpx://user:hunter2@mail.example")
    assert "hunter2" not in str(caught.value)


def test_production_with_mail_needs_the_public_url_and_a_sender():
    base = {"env": "production", "secret_key": TEST_SECRET, "smtp_url": "smtp://relay:25"}
    with pytest.raises(ConfigError, match="TELEVISIT_PUBLIC_URL"):
        load_settings(**base, mail_from="Clinic <a@clinic.example>")
    with pytest.raises(ConfigError, match="TELEVISIT_MAIL_FROM"):
        load_settings(**base, public_url="https://visits.clinic.example")
    ok = load_settings(**base, public_url="https://visits.clinic.example/",
                       mail_from="Clinic <a@clinic.example>")
    assert ok.effective_public_url == "https://visits.clinic.example"
    # Mail off (no SMTP URL) needs neither.
    assert not load_settings(env="production", secret_key=TEST_SECRET).mail_enabled


def test_settings_refuse_header_injection_and_bad_offsets():
    for bad in ({"clinic_name": "Clinic\r\nBcc: x@evil.example"}, {"mail_from": "not an address"},
                {"reminder_offsets": [0]}, {"mail_lease": 20, "smtp_timeout": 30}):
        with pytest.raises(ConfigError):
            load_settings(**bad)


def test_an_empty_smtp_url_in_an_env_file_means_no_mail_server():
    assert load_settings(env="production", secret_key=TEST_SECRET, smtp_url="").mail_enabled is False
