"""What /ready and the error pages say, word for word where a reader relies on it.

Each test here fails on a change mutmut made to views.py or errors.py that the other tests
let through (docs/testing.md, "Mutation testing").
"""

from __future__ import annotations


def test_ready_says_ready_with_the_count_service_and_instance(client, redis_client):
    """The readiness body names who answered, as the 503 body does (neighbours read it)."""
    redis_client.set("bookingapp:home:hits", 7)
    answer = client.get("/home/ready")
    assert answer.status_code == 200
    assert answer.get_json() == {
        "status": "ready",
        "hits": 7,
        "service": "home",
        "instance": "test-instance",
    }


def test_a_page_that_does_not_exist_shows_the_status_and_the_reason(client):
    answer = client.get("/home/nothing/here")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 404
    assert "<h1>404 · Not Found</h1>" in page
    assert "The requested URL was not found on the server." in page
