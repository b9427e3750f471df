"""The shape later messages take (join links, password reset, "someone tried to register with your
address"): a kind, a template pair and one enqueue call with a LinkMail; a one-time token in its
link does not outlive the email in the database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from jinja2 import ChoiceLoader, DictLoader

from televisit.mail import service
from televisit.mail.models import MailStatus
from televisit.mail.render import environment
from televisit.mail.schemas import LinkMail
from televisit.runtime import runtime_of
from tests.mail.conftest import PUBLIC_URL
from tests.mail.helpers import drain, outbox, text_of
from tests.mail.smtp import wait_for_mail

TEMPLATES = {
    "test_reset.txt": '{% set subject %}Reset your {{ clinic_name }} password{% endset %}'
                      '{% extends "_layout.txt" %}{% block body %}Someone asked to reset it.{% endblock %}',
    "test_reset.html": '{% extends "_layout.html" %}{% block body %}<p>Someone asked to reset it.</p>'
                       '{% endblock %}',
}


@pytest.fixture
def a_new_kind() -> Iterator[str]:
    env = environment()
    shipped = env.loader
    env.loader = ChoiceLoader([DictLoader(TEMPLATES), shipped])  # type: ignore[list-item]
    env.cache = {}
    try:
        yield "test_reset"
    finally:
        env.loader = shipped
        env.cache = {}


async def test_one_template_and_one_enqueue_make_a_new_message(app, clock, factory, smtp, a_new_kind):
    person = await factory.patient(name="Dana Forgetful")
    async with runtime_of(app).session() as session:
        await service.enqueue(session, kind=a_new_kind, recipient_id=person.id, now=clock.now(),  # type: ignore[arg-type]
                              payload=LinkMail(link_path="/reset#one-time-token-123",
                                               link_label="Choose a new password"))
    await drain(app)
    [message] = await wait_for_mail(smtp.inbox, 1)
    assert str(message["Subject"]).strip() == "Reset your Sunrise Clinic password"
    text = text_of(message)
    assert "Hello Dana Forgetful" in text
    assert f"Choose a new password: {PUBLIC_URL}/reset#one-time-token-123" in text
    [row] = await outbox(app)
    assert row.status == MailStatus.sent and row.payload == {}  # the token is gone
