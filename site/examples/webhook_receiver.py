"""A webhook receiver for storemon's incidents: it checks each request's signature with the
Standard Webhooks library and prints each change once (a delivery may arrive more than once:
its webhook-id says which ones are repeats).

    pip install standardwebhooks
    STOREMON_WEBHOOK_SECRET=whsec_... python webhook_receiver.py 8080
"""

import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["STOREMON_WEBHOOK_SECRET"])
seen: set[str] = set()  # a real receiver keeps these in its database


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            changes = webhook.verify(body, dict(self.headers))
        except WebhookVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        if self.headers["webhook-id"] not in seen:
            seen.add(self.headers["webhook-id"])
            for change in changes:
                print(change["change"], change["store_id"], change["state"], change["reason"],
                      flush=True)  # fmt: skip
        self.send_response(204)
        self.end_headers()


HTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
