"""Receives one Tryvoga webhook delivery and checks it with the Standard Webhooks reference
library (PyPI `standardwebhooks`), as a third-party receiver would.

Usage: webhook_receiver.py PORT SECRET_FILE OUT_FILE. Exits 0 after one verified delivery; a
delivery that does not verify is answered 401 and the receiver keeps waiting."""

import http.server
import json
import sys

from standardwebhooks.webhooks import Webhook

port, secret_file, out_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            secret = open(secret_file).read().strip()
            event = Webhook(secret).verify(body, headers)
        except Exception as e:  # the library raises WebhookVerificationError
            self.send_response(401)
            self.end_headers()
            print(f"refused: {e}", file=sys.stderr)
            return
        self.send_response(204)
        self.end_headers()
        with open(out_file, "w") as f:
            json.dump({"id": headers["webhook-id"], "event": event}, f)
        self.server.done = True

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", port), Handler)
server.done = False
server.timeout = 1
for _ in range(60):
    server.handle_request()
    if server.done:
        sys.exit(0)
sys.exit("no verified delivery within a minute")
