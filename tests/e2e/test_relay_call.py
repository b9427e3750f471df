"""A clinic's privacy option, TELEVISIT_ICE_TRANSPORT_POLICY=relay, in two real browsers: the whole
call goes through a real coturn running the shipped configuration (deploy/coturn/turnserver.conf,
adapted for one machine by tests/fixtures/coturn.py), video flows both ways, and neither browser
ever learns an address of the other: every candidate each side gathered or received, and the
pair it selected, is a relay candidate on the TURN server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Page
from pydantic import SecretStr

from tests.e2e.conftest import Instance
from tests.e2e.pages import (
    assert_clean_console,
    call_between,
    open_page,
    shot,
    wait_frames,
)
from tests.fixtures.coturn import LOOPBACK_PEERS, SHIPPED_CONFIG, TurnServer, _stop, start_shipped_turnserver

# What the live connection reports through getStats, as a person's devtools would show it.
ICE_REPORT = """async () => {
  const pc = window.__peers.filter((p) => p.connectionState === 'connected').pop();
  if (!pc) return null;
  const stats = await pc.getStats();
  const byId = new Map(); stats.forEach((r) => byId.set(r.id, r));
  const transport = [...byId.values()].find((r) => r.type === 'transport' && r.selectedCandidatePairId);
  const pair = transport && byId.get(transport.selectedCandidatePairId);
  const candidate = (id) => { const c = byId.get(id); return { type: c.candidateType, address: c.address }; };
  const of = (type) => [...byId.values()].filter((r) => r.type === type)
    .map((c) => ({ type: c.candidateType, address: c.address }));
  return {
    policy: pc.getConfiguration().iceTransportPolicy,
    selected: pair ? { local: candidate(pair.localCandidateId), remote: candidate(pair.remoteCandidateId),
                       state: pair.state } : null,
    local: of('local-candidate'), remote: of('remote-candidate'),
  };
}"""


@pytest.fixture
def shipped_coturn(tmp_path) -> Iterator[TurnServer]:
    proc, server = start_shipped_turnserver(tmp_path)
    try:
        yield server
    finally:
        _stop(proc)


@pytest.fixture
async def relay_instance(instance: Instance, shipped_coturn: TurnServer) -> Instance:
    """The e2e server restarted with TURN and the clinic's relay-only policy."""
    instance.settings = instance.settings.model_copy(update={
        "turn_urls": [shipped_coturn.url], "turn_secret": SecretStr(shipped_coturn.secret),
        "ice_transport_policy": "relay",
    })
    await instance.restart()
    return instance


async def ice_report(page: Page) -> dict[str, Any]:
    report = await page.evaluate(ICE_REPORT)
    assert report is not None, "no connected peer connection"
    return report


async def test_a_relay_only_call_through_the_shipped_coturn(browser, relay_instance, shipped_coturn,
                                                           artifacts):
    # The loopback peers are the test copy's alone.
    shipped = {line.strip() for line in SHIPPED_CONFIG.read_text().splitlines()}
    assert not shipped & set(LOOPBACK_PEERS)
    assert "denied-peer-ip=127.0.0.0-127.255.255.255" in shipped
    assert "Bad configuration" not in shipped_coturn.log_text()

    doctor = await open_page(browser, relay_instance.url)
    patient = await open_page(browser, relay_instance.url)
    await call_between(doctor, patient)

    # Video both ways, and still flowing a moment later.
    seen = {name: await wait_frames(page) for name, page in (("doctor", doctor), ("patient", patient))}
    for name, page in (("doctor", doctor), ("patient", patient)):
        later = await wait_frames(page, more_than=seen[name]["frames"])
        assert later["frames"] > seen[name]["frames"] and later["width"] > 0, name

    turn_host = shipped_coturn.host
    for name, page in (("doctor", doctor), ("patient", patient)):
        report = await ice_report(page)
        assert report["policy"] == "relay", (name, report)
        selected = report["selected"]
        assert selected is not None and selected["state"] == "succeeded", (name, report)
        assert (selected["local"]["type"], selected["remote"]["type"]) == ("relay", "relay"), (name, report)
        assert selected["local"]["address"] == turn_host == selected["remote"]["address"], (name, report)
        # Nothing but relay candidates was gathered or received: no host or server-reflexive
        # address of either side ever reached the other.
        assert report["local"] and {c["type"] for c in report["local"]} == {"relay"}, (name, report)
        assert report["remote"] and {c["type"] for c in report["remote"]} == {"relay"}, (name, report)
        assert {c["address"] for c in report["local"] + report["remote"]} == {turn_host}, (name, report)

    await shot(doctor, artifacts, "relay-call-doctor")
    await shot(patient, artifacts, "relay-call-patient")
    assert_clean_console(doctor, patient)
