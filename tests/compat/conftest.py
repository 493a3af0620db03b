"""Shared set-up for the compatibility tests: the live servers the CI step started, their
tokens, and the native API through which the tests change the state they then read back
through the unmodified alerts_in_ua and uasiren clients."""

import os

import pytest
import requests


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through .ci/steps/40-compat-clients.sh")
    return value


class Native:
    """Tryvoga's own API, used to raise and end alerts and as the oracle of region status."""

    def __init__(self, url, admin):
        self.url = url
        self.headers = {"Authorization": f"Bearer {admin}"}
        self.raised = []

    def raise_alert(self, region, alert_type="air_raid", level=None, status=None, note=None):
        body = {"region": region, "type": alert_type}
        if level:
            body["level"] = level
        if status:
            body["status"] = status
        if note:
            body["note"] = note
        r = requests.post(f"{self.url}/api/v1/alerts", json=body, headers=self.headers, timeout=10)
        assert r.status_code == 201, r.text
        alert = r.json()
        self.raised.append(alert["id"])
        return alert

    def end(self, alert_id):
        r = requests.post(f"{self.url}/api/v1/alerts/{alert_id}/end", headers=self.headers, timeout=10)
        assert r.status_code in (200, 409), r.text
        return r.json()

    def end_all(self):
        for alert_id in self.raised:
            requests.post(f"{self.url}/api/v1/alerts/{alert_id}/end", headers=self.headers, timeout=10)
        self.raised.clear()

    def air_raid_status(self, region):
        """`active`, `partial` or `none`, as the native API derives it."""
        r = requests.get(f"{self.url}/api/v1/regions/{region}", headers=self.headers, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["status_by_type"]["air_raid"]

    def active(self):
        r = requests.get(f"{self.url}/api/v1/alerts/active", headers=self.headers, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["alerts"]


@pytest.fixture(scope="session")
def server():
    return env("TRYVOGA_URL")


@pytest.fixture(scope="session")
def reader():
    return env("TRYVOGA_READER_TOKEN")


@pytest.fixture()
def native(server):
    n = Native(server, env("TRYVOGA_ADMIN_TOKEN"))
    yield n
    n.end_all()
