def test_health_and_me(http, admin):
    assert http.get("/healthz").json()["status"] == "ok"
    r = admin.get("/api/v1/users/me")
    assert r.status_code == 200 and r.json()["role"] == "admin"
    r = http.get("/api/v1/users/me")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def test_publisher_and_consumer_roles(make_actor):
    pub = make_actor("publisher")
    con = make_actor("consumer")
    r = pub.post("/api/v1/apis", json={"name": "A", "context": "a", "version": "v1"})
    assert r.status_code == 201, r.text
    r = con.post("/api/v1/apis", json={"name": "B", "context": "b", "version": "v1"})
    assert r.status_code == 403
