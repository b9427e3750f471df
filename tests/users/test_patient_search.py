"""GET /api/v1/patients: a doctor finds patients to book, by name or email, page by page."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx

from tests.auth.helpers import PATIENTS, assert_error, assert_unauthorized
from tests.fixtures.factories import Person


async def search(client: httpx.AsyncClient, doctor: Person, **params: Any) -> dict[str, Any]:
    response = await client.get(PATIENTS, params=params, headers=doctor.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    for item in body["items"]:
        assert set(item) == {"id", "full_name", "email"}
    return body


async def names(client: httpx.AsyncClient, doctor: Person, query: str) -> list[str]:
    return [item["full_name"] for item in (await search(client, doctor, query=query))["items"]]


def cursor_of(raw: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


async def test_only_doctors_may_search(factory, client):
    await factory.patient()
    patient = await factory.patient()
    admin = await factory.admin()

    for person in (patient, admin):
        response = await client.get(PATIENTS, headers=person.headers)
        assert_error(response, 403, "forbidden_role")
        assert "items" not in response.text
    assert_unauthorized(await client.get(PATIENTS), "not_authenticated")


async def test_matches_name_or_email_case_insensitively_and_lists_only_patients(factory, client):
    doctor = await factory.doctor(name="Dr. Alina Ward")
    await factory.admin(name="Alistair Admin", login=False)
    await factory.doctor(name="Dr. Other", email="ali.doctor@example.org", login=False)
    alice = await factory.patient(name="Alice Liddell", email="p-liddell@example.org", login=False)
    bob = await factory.patient(name="Bob Stone", email="bob.alias@example.net", login=False)
    carl = await factory.patient(name="Carl Young", email="carl@example.org", login=False)

    found = await search(client, doctor, query="aLI")
    assert [i["id"] for i in found["items"]] == [str(alice.id), str(bob.id)]
    assert found["items"][0] == {
        "id": str(alice.id), "full_name": "Alice Liddell", "email": "p-liddell@example.org"
    }
    assert found["next_cursor"] is None

    assert await names(client, doctor, "EXAMPLE.NET") == ["Bob Stone"]
    assert await names(client, doctor, "young") == ["Carl Young"]
    assert await names(client, doctor, "nobody-matches") == []
    # No query, or only spaces: every patient, ordered by name; never staff.
    everyone = ["Alice Liddell", "Bob Stone", "Carl Young"]
    assert [i["full_name"] for i in (await search(client, doctor))["items"]] == everyone
    assert await names(client, doctor, "   ") == everyone
    assert str(carl.id) in {i["id"] for i in (await search(client, doctor))["items"]}


async def test_percent_underscore_and_backslash_are_literal(factory, client):
    doctor = await factory.doctor()
    for name in ("Ann_Marie Lee", "AnnXMarie Lee", "Percy 100% Real", "Percy 1000 Real",
                 "Back\\Slash Kim", "Backslash Kim"):
        await factory.patient(name=name, login=False)

    assert await names(client, doctor, "_") == ["Ann_Marie Lee"]
    assert await names(client, doctor, "n_m") == ["Ann_Marie Lee"]
    assert await names(client, doctor, "%") == ["Percy 100% Real"]
    assert await names(client, doctor, "0%") == ["Percy 100% Real"]
    assert await names(client, doctor, "%%") == []
    assert await names(client, doctor, "\\") == ["Back\\Slash Kim"]
    assert await names(client, doctor, "k\\s") == ["Back\\Slash Kim"]


async def test_pagination_walks_every_patient_exactly_once(factory, client):
    doctor = await factory.doctor()
    # Equal names force the id tie-break into play across page boundaries.
    wanted = ["Anna Adams", "Ben Brown", "Same Name", "Same Name", "Same Name", "Cara Cole",
              "Zed Zulu"]
    created = {str((await factory.patient(name=n, login=False)).id): n for n in wanted}

    for limit in (1, 2, 3):
        seen: list[dict[str, Any]] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = await search(client, doctor, **params)
            pages += 1
            assert len(page["items"]) <= limit
            seen.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert len(page["items"]) == limit
            assert pages <= len(wanted)
        ids = [item["id"] for item in seen]
        assert len(ids) == len(set(ids)) == len(created), limit
        assert set(ids) == set(created)
        assert [item["full_name"] for item in seen] == sorted(wanted)
        assert pages == -(-len(wanted) // limit)

    # The cursor keeps the query's filter.
    first = await search(client, doctor, query="same", limit=2)
    second = await search(client, doctor, query="same", limit=2, cursor=first["next_cursor"])
    assert len(first["items"]) == 2 and first["next_cursor"]
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    same = {i for i, n in created.items() if n == "Same Name"}
    assert {i["id"] for i in first["items"] + second["items"]} == same


async def test_tampered_cursors_are_400_and_bad_parameters_422(factory, client):
    doctor = await factory.doctor()
    await factory.patient(name="Anna Adams", login=False)
    tampered = [
        "not-base64-at-all!!",
        "%%%%",
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
        cursor_of({"name": "Anna Adams"}),
        cursor_of(["Anna Adams"]),
        cursor_of(["Anna Adams", str(uuid.uuid4()), "extra"]),
        cursor_of(["Anna Adams", "not-a-uuid"]),
        cursor_of([1, 2]),
        cursor_of(["Anna\x00Adams", str(uuid.uuid4())]),
    ]
    for cursor in tampered:
        response = await client.get(PATIENTS, params={"cursor": cursor}, headers=doctor.headers)
        assert_error(response, 400, "invalid_cursor")

    cases = [
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"query": "x" * 101},
        {"query": "nul\x00byte"},
        {"cursor": "x" * 2049},
    ]
    for params in cases:
        response = await client.get(PATIENTS, params=params, headers=doctor.headers)
        assert_error(response, 422, "validation_error")
