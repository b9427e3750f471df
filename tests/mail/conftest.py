from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.mail.smtp import SmtpServer, smtp_server

PUBLIC_URL = "https://televisit.clinic.example"
MAIL_FROM = "Sunrise Clinic <visits@clinic.example>"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def mail_settings(smtp_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "smtp_url": smtp_url, "mail_from": MAIL_FROM, "public_url": PUBLIC_URL,
        "clinic_name": "Sunrise Clinic", "smtp_timeout": 5.0, "mail_lease": 60,
        # Tests move the clock by days; sessions must outlive that.
        "session_idle_timeout": 30 * 24 * 3600, "session_absolute_lifetime": 60 * 24 * 3600,
        **extra,
    }


@pytest.fixture
def settings_overrides(smtp: SmtpServer) -> dict[str, Any]:
    return mail_settings(smtp.url)
