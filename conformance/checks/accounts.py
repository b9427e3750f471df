"""Health, signing in and out, patient search, and the error body of every kind of refusal."""

from __future__ import annotations

import uuid

from conformance.auth import LOGIN
from conformance.client import expect_error, expect_status, require
from conformance.runner import Check, Context

ME = "/api/v1/me"
BAD_INPUT = (400, 422)


async def health(ctx: Context) -> None:
    """Liveness and readiness answer 200 (what a load balancer and an orchestrator ask)."""
    expect_status(await ctx.api.get("/livez"), 200)
    expect_status(await ctx.api.get("/readyz"), 200)


async def sign_in(ctx: Context) -> None:
    """The token answer, `/me`, and one generic 401 for a wrong password and an unknown email."""
    patient = await ctx.person("patient")
    body = expect_status(await ctx.api.post(LOGIN, json={"email": patient.email,
                                                         "password": patient.password}), 200)
    require(str(body["token_type"]).lower() == "bearer", f"token_type is {body['token_type']!r}")
    require(body["expires_in"] > 0, f"expires_in is {body['expires_in']}")
    require(body["user"]["id"] == patient.id and body["user"]["role"] == "patient",
            f"the login's user is {body['user']}, not the patient signing in")
    me = expect_status(await ctx.api.get(ME, token=body["access_token"]), 200)
    require((me["id"], me["email"], me["full_name"], me["role"])
            == (patient.id, patient.email, patient.full_name, "patient"), f"/me is {me}")
    wrong = expect_error(await ctx.api.post(LOGIN, json={"email": patient.email,
                                                         "password": patient.password + "x"}), 401)
    unknown = expect_error(await ctx.api.post(LOGIN, json={
        "email": f"nobody-{uuid.uuid4().hex[:10]}@{ctx.options.email_domain}", "password": "whatever-1234"}),
        401)
    require((wrong["code"], wrong["message"]) == (unknown["code"], unknown["message"]),
            "a wrong password and an unknown email must get the same 401 (it reveals who has an account): "
            f"{wrong['code']!r} vs {unknown['code']!r}")


async def sign_out(ctx: Context) -> None:
    """Logout kills the token at once: REST 401, and its open socket gets `session.ended` and 4401."""
    patient = await ctx.person("patient")
    socket = await ctx.socket(patient, "patient socket")
    expect_status(await ctx.api.post("/api/v1/auth/logout", token=patient.token), 204)
    expect_error(await ctx.api.get(ME, token=patient.token), 401)
    ended = await socket.expect("session.ended")
    require(ended["reason"] == "logged-out", f"session.ended says {ended['reason']!r}, not 'logged-out'")
    code = await socket.closed()
    require(code == 4401, f"the signed-out socket closed with {code}, expected 4401")
    expect_error(await ctx.api.post("/api/v1/auth/logout", token=patient.token), 401)
    again = await ctx.socket(None, "socket with the dead token")
    await again.send({"type": "auth", "token": patient.token})
    await again.expect("error")
    code = await again.closed()
    require(code == 4401, f"auth with a dead token closed with {code}, expected 4401")


async def patients_search(ctx: Context) -> None:
    """Doctors find patients by part of the name, page by page; patients may not search."""
    label = uuid.uuid4().hex[:8]
    doctor, *patients = await ctx.people("doctor", "patient", "patient", "patient", label=label)
    first = expect_status(await ctx.api.get("/api/v1/patients", token=doctor.token,
                                            params={"query": label, "limit": 2}), 200)
    require(len(first["items"]) == 2 and first["next_cursor"],
            f"limit=2 of 3 matches gave {len(first['items'])} items, next_cursor {first['next_cursor']!r}")
    rest = expect_status(await ctx.api.get("/api/v1/patients", token=doctor.token, params={
        "query": label, "limit": 2, "cursor": first["next_cursor"]}), 200)
    require(rest["next_cursor"] is None, f"the last page has next_cursor {rest['next_cursor']!r}")
    listed = first["items"] + rest["items"]
    found = {p["id"]: p for p in listed}
    require(set(found) == {p.id for p in patients} and len(listed) == 3,
            f"the pages hold {[p['full_name'] for p in listed]}, expected the 3 patients")
    for person in patients:
        entry = found[person.id]
        require((entry["full_name"], entry["email"]) == (person.full_name, person.email),
                f"patient {person.id} is listed as {entry}")
    by_email = expect_status(await ctx.api.get("/api/v1/patients", token=doctor.token,
                                               params={"query": patients[0].email}), 200)
    require([p["id"] for p in by_email["items"]] == [patients[0].id], "searching by email did not find them")
    expect_error(await ctx.api.get("/api/v1/patients", token=patients[0].token, params={"query": label}), 403)


async def error_bodies(ctx: Context) -> None:
    """Every refusal has its status and `{"error": {"code", "message", "details"}}`, never a 500."""
    doctor, patient = await ctx.people("doctor", "patient")
    api = ctx.api
    expect_error(await api.get(ME), 401)
    expect_error(await api.get(ME, headers={"Authorization": "Bearer not-a-real-token"}), 401)
    expect_error(await api.post("/api/v1/appointments", token=patient.token, json={
        "patient_id": patient.id, "starts_at": "2100-01-01T10:00:00+00:00", "duration_minutes": 30}), 403)
    expect_error(await api.get(f"/api/v1/appointments/{uuid.uuid4()}", token=doctor.token), 404)
    expect_error(await api.get(f"/api/v1/rooms/{uuid.uuid4()}", token=doctor.token), 404)
    later = "2100-01-01T10:00:00+00:00"
    for bad in ({"patient_id": patient.id},
                {"patient_id": patient.id, "starts_at": "tomorrow", "duration_minutes": 30},
                {"patient_id": patient.id, "starts_at": later, "duration_minutes": "long"}):
        expect_error(await api.post("/api/v1/appointments", token=doctor.token, json=bad), BAD_INPUT)
    expect_error(await api.post("/api/v1/appointments", token=doctor.token, content=b'{"patient_id": ',
                                headers={"Content-Type": "application/json"}), BAD_INPUT)
    expect_error(await api.get("/api/v1/appointments", token=doctor.token, params={"status": "someday"}),
                 BAD_INPUT)
    expect_error(await api.get("/api/v1/appointments/not-a-uuid", token=doctor.token), (404, *BAD_INPUT))


CHECKS = (
    Check("ops.health", health, "GET /livez and /readyz answer 200"),
    Check("auth.sign-in", sign_in, "login answer, /me, one generic 401"),
    Check("auth.sign-out", sign_out, "after logout: REST 401, open socket session.ended + 4401"),
    Check("patients.search", patients_search, "doctors search patients with cursors; patients get 403"),
    Check("errors.rest", error_bodies, "401/403/404/400/422 with the contract's error body"),
)
