"""ukrainealarm webhooks: a receiver registered with a key gets every change, signed as that
API documents (RSA-SHA256, PKCS#1 v1.5, over `{timestamp}.{body}`), verifies each delivery
with the served public key, and rejects a tampered body. Drills are never delivered; a
receiver that fails gets the same event again; PATCH moves the webhook, DELETE ends it."""

import base64
import http.server
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from conftest import env


class Receiver:
    """A webhook endpoint on a loopback port (a free one unless given); `fail` answers the next
    N requests 500."""

    def __init__(self, port=0):
        self.deliveries = queue.Queue()
        self.fail = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                failing = receiver.fail > 0
                if failing:
                    receiver.fail -= 1
                receiver.deliveries.put((dict(self.headers), body, failing))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout=15):
        try:
            return self.deliveries.get(timeout=timeout)
        except queue.Empty:
            pytest.fail("no webhook delivery arrived in time")

    def nothing_within(self, seconds):
        try:
            got = self.deliveries.get(timeout=seconds)
        except queue.Empty:
            return True
        pytest.fail(f"an unexpected delivery arrived: {got[1]!r}")

    def close(self):
        self.server.shutdown()


@pytest.fixture()
def receivers():
    made = []

    def make():
        r = Receiver()
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture()
def public_key(server):
    r = requests.get(f"{server}/webhook-public.pem", timeout=10)
    assert r.status_code == 200 and "BEGIN PUBLIC KEY" in r.text
    keys = requests.get(f"{server}/api/v3/webhook/keys", timeout=10).json()["keys"]
    return serialization.load_pem_public_key(r.text.encode()), keys[0]["keyId"]


def verify(key, headers, body):
    """Raises InvalidSignature unless the delivery was signed by the server's key."""
    timestamp = headers["X-Webhook-Timestamp"]
    signature = base64.b64decode(headers["X-Webhook-Signature"])
    key.verify(signature, timestamp.encode() + b"." + body, padding.PKCS1v15(), hashes.SHA256())


def check(public_key, delivery):
    key, key_id = public_key
    headers, body, _ = delivery
    assert headers["X-Webhook-Signature-Alg"] == "rsa-sha256"
    assert headers["X-Webhook-Key-Id"] == key_id
    assert abs(int(headers["X-Webhook-Timestamp"]) - time.time()) < 300
    verify(key, headers, body)
    tampered = body.replace(b"ACTIVATE", b"DEACTIVATE", 1) if b'"ACTIVATE"' in body else body + b" "
    with pytest.raises(InvalidSignature):
        verify(key, headers, tampered)
    return json.loads(body)


@pytest.fixture()
def hook(server, reader):
    """Registers and, after the test, removes the reader's webhook."""
    headers = {"Authorization": reader}

    def register(url, method="POST"):
        r = requests.request(method, f"{server}/api/v3/webhook", json={"webHookUrl": url}, headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        assert r.content == b""

    yield register
    requests.delete(f"{server}/api/v3/webhook", headers=headers, timeout=10)


def test_deliveries_are_signed_and_complete(server, native, receivers, public_key, hook):
    receiver = receivers()
    hook(receiver.url)
    drill = native.raise_alert(9999, status="exercise")
    alert = native.raise_alert(9999, level="yellow", note="UAV activity")
    native.end(alert["id"])
    native.end(drill["id"])

    started = check(public_key, receiver.next())
    assert started["status"] == "ACTIVATE" and started["regionId"] == 9999
    assert started["alarmType"] == "AIR" and started["alertLevel"] == "Yellow"
    assert started["reason"] == "UAV activity"
    assert [lvl["alertLevel"] for lvl in started["activeAlertLevels"]] == ["Yellow"]
    ended = check(public_key, receiver.next())
    assert ended["status"] == "DEACTIVATE" and ended["regionId"] == 9999
    assert ended["activeAlertLevels"] == []
    assert ended["createdAt"] >= started["createdAt"]
    receiver.nothing_within(2.5)  # the drill was never delivered


def test_a_failed_delivery_is_repeated(server, native, receivers, public_key, hook):
    receiver = receivers()
    hook(receiver.url)
    receiver.fail = 1
    alert = native.raise_alert(14, "artillery_shelling")
    first = receiver.next()
    assert first[2], "the first attempt was answered 500"
    again = check(public_key, receiver.next())
    assert again == json.loads(first[1]) and again["alarmType"] == "ARTILLERY"
    native.end(alert["id"])
    assert check(public_key, receiver.next())["status"] == "DEACTIVATE"


def test_patch_moves_and_delete_ends_the_webhook(server, reader, native, receivers, public_key, hook):
    old, new = receivers(), receivers()
    hook(old.url)
    hook(new.url, method="PATCH")
    alert = native.raise_alert(31)
    got = check(public_key, new.next())
    assert got["regionId"] == 31 and got["status"] == "ACTIVATE"
    old.nothing_within(0.5)
    r = requests.delete(f"{server}/api/v3/webhook", headers={"Authorization": reader}, timeout=10)
    assert r.status_code == 200
    time.sleep(0.5)
    native.end(alert["id"])
    new.nothing_within(2.5)


def test_registration_needs_a_key_and_a_url(server, reader):
    r = requests.post(f"{server}/api/v3/webhook", json={"webHookUrl": "http://127.0.0.1:9/x"}, timeout=10)
    assert r.status_code == 401, "even a public API binds a webhook to a key"
    for body in ({}, {"webHookUrl": "ftp://example.org/"}, {"webHookUrl": "not a url"}):
        r = requests.post(f"{server}/api/v3/webhook", json=body, headers={"Authorization": reader}, timeout=10)
        assert r.status_code == 400 and r.json()["message"], body
    r = requests.post(f"{server}/api/v3/webhook", data=b"{", headers={"Authorization": reader}, timeout=10)
    assert r.status_code == 400
    r = requests.patch(f"{server}/api/v3/webhook", json={"webHookUrl": "http://127.0.0.1:9/x"},
                       headers={"Authorization": reader}, timeout=10)
    assert r.status_code == 404, "nothing to move before a webhook is registered"


def test_an_event_raised_while_the_receiver_was_down_arrives_after_a_crash(tmp_path, public_key):
    """Deliveries come from the log by sequence, with the position in the database: kill -9
    the server while a receiver is unreachable, restart it, and the event still arrives."""
    binary = env("TRYVOGA_BIN")
    db = str(tmp_path / "crash.db")

    def token(name, role):
        out = subprocess.run([binary, "token", "create", "--name", name, "--role", role, "--db", db],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    admin, reader = token("admin", "admin"), token("reader", "reader")
    port, hook_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"

    def serve():
        # The receiver listens on loopback, where webhooks go only when the operator allows it.
        p = subprocess.Popen([binary, "serve", "--db", db, "--listen", f"127.0.0.1:{port}", "--webhook-allow", "127.0.0.0/8"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return p
            except requests.ConnectionError:
                time.sleep(0.1)
        p.kill()
        pytest.fail("the server did not come up")

    server = serve()
    try:
        r = requests.post(f"{url}/api/v3/webhook", json={"webHookUrl": f"http://127.0.0.1:{hook_port}/hook"},
                          headers={"Authorization": reader}, timeout=10)
        assert r.status_code == 200, r.text
        r = requests.post(f"{url}/api/v1/alerts", json={"region": 26, "type": "air_raid", "level": "red"},
                          headers={"Authorization": f"Bearer {admin}"}, timeout=10)
        assert r.status_code == 201, r.text
        time.sleep(1.5)  # at least one delivery attempt fails: nothing listens yet
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()

    receiver = Receiver(hook_port)

    server = serve()
    try:
        key = serialization.load_pem_public_key(requests.get(f"{url}/webhook-public.pem", timeout=10).content)
        headers, body, _ = receiver.next(timeout=20)
        verify(key, headers, body)
        got = json.loads(body)
        assert (got["status"], got["regionId"], got["alertLevel"]) == ("ACTIVATE", 26, "Red")
        assert key.public_numbers() != public_key[0].public_numbers(), "each database has its own key"
    finally:
        receiver.close()
        server.terminate()
        server.wait()
