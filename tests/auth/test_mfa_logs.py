"""Nothing secret of two-factor sign-in reaches the logs, even the development console with every
SQL statement: not the key, the codes, the recovery codes, the challenge or the device token."""

from __future__ import annotations

import pytest

from tests.auth.helpers import LOGIN_MFA, MFA_CONFIRM, MFA_ENROLL, login, totp
from tests.core.test_logging import CONSOLE_SQL

pytestmark = pytest.mark.parametrize("settings_overrides", [CONSOLE_SQL])


async def test_two_factor_secrets_never_reach_the_console_log(factory, client, clock, logs):
    doctor = await factory.doctor()
    secret = (await client.post(MFA_ENROLL, headers=doctor.headers)).json()["secret"]
    enrol_code = totp(secret, clock.now())
    confirmed = await client.post(MFA_CONFIRM, json={"passcode": enrol_code}, headers=doctor.headers)
    codes = confirmed.json()["recovery_codes"]
    clock.advance(seconds=30)

    first = await login(client, doctor.email, doctor.password)
    challenge = first.json()["mfa_token"]
    sign_in_code = totp(secret, clock.now())
    done = await client.post(LOGIN_MFA, json={"mfa_token": challenge, "passcode": sign_in_code})
    assert done.status_code == 200, done.text
    second = await login(client, doctor.email, doctor.password)
    with_recovery = await client.post(LOGIN_MFA, json={
        "mfa_token": second.json()["mfa_token"], "passcode": codes[0],
        "device_token": done.json()["device_token"]})
    assert with_recovery.status_code == 200, with_recovery.text

    output = logs.getvalue()
    assert "[REDACTED]" in output
    for value in (secret, challenge, second.json()["mfa_token"], done.json()["device_token"],
                  done.json()["access_token"], *codes):
        assert value not in output, value
    # Six digits could occur inside a uuid or a time by chance; a logged code would be a quoted value.
    for code in (enrol_code, sign_in_code):
        assert f"'{code}'" not in output and f'"{code}"' not in output, code
