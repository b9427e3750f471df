async def test_login_me_logout(factory, client):
    doctor = await factory.doctor()
    me = await client.get("/api/v1/me", headers=doctor.headers)
    assert me.status_code == 200
    assert me.json()["email"] == doctor.email
    out = await client.post("/api/v1/auth/logout", headers=doctor.headers)
    assert out.status_code == 204
    again = await client.get("/api/v1/me", headers=doctor.headers)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "invalid_token"
