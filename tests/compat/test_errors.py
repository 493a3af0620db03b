"""Refusals as the clients expect them, on a server where both compatibility APIs need a
token and each client may make only a few requests a minute: 401 for an unknown token, 403
for a revoked one, 429 past the budget, each with a `{"message"}` body."""

import asyncio

import aiohttp
import pytest
import requests

import alerts_in_ua
from alerts_in_ua import Client
from uasiren.client import Client as Siren

from conftest import env


@pytest.fixture(scope="module")
def strict():
    return env("TRYVOGA_STRICT_URL")


def client(strict, token, monkeypatch):
    monkeypatch.setattr(Client, "API_BASE_URL", strict)
    return Client(token=token)


def test_unknown_token_is_401(strict, monkeypatch):
    with pytest.raises(alerts_in_ua.UnauthorizedError) as e:
        client(strict, "not-a-token", monkeypatch).get_active_alerts()
    assert "HTTP Code:401" in str(e.value)


def test_revoked_token_is_403(strict, monkeypatch):
    with pytest.raises(alerts_in_ua.ForbiddenError) as e:
        client(strict, env("TRYVOGA_STRICT_REVOKED"), monkeypatch).get_air_raid_alert_statuses_by_oblast()
    assert "revoked" in str(e.value) and "HTTP Code:403" in str(e.value)


def test_rate_limit_is_429(strict, monkeypatch):
    c = client(strict, env("TRYVOGA_STRICT_LIMITED"), monkeypatch)
    limit = int(env("TRYVOGA_STRICT_LIMIT"))
    refused = 0
    # Two budgets at most fit in the calls below, even across a minute's edge.
    for _ in range(2 * limit + 2):
        try:
            c.get_active_alerts(use_cache=False)
        except alerts_in_ua.RateLimitError as e:
            assert "HTTP Code:429" in str(e)
            refused += 1
    assert refused >= 2


def test_ukrainealarm_without_a_key_is_401(strict, monkeypatch):
    monkeypatch.setattr(Siren, "BASE_PATH", f"{strict}/api/v3")

    async def run():
        async with aiohttp.ClientSession() as session:
            return await Siren(session).get_alerts()

    with pytest.raises(aiohttp.ClientResponseError) as e:
        asyncio.run(run())
    assert e.value.status == 401
    r = requests.get(f"{strict}/api/v3/alerts", headers={"Authorization": env("TRYVOGA_STRICT_READER")}, timeout=5)
    assert r.status_code == 200 and isinstance(r.json(), list), "the raw key is accepted"
    r = requests.get(f"{strict}/api/v3/alerts", headers={"Authorization": "wrong"}, timeout=5)
    assert r.status_code == 401 and "message" in r.json()
