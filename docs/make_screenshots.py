"""Screenshots of the demo practice for docs/ and the README, made from a running Odoo
(the PDFs' pictures are docs/make_pdf_pictures.py's).

Run through ``./dev.sh screenshots``: it installs the demo practice in a fresh database,
starts Odoo on it and runs this script, which

- prepares what a picture needs and the demo does not hold (a portal login for one client,
  a superbill request), directly in the database;
- drives Chromium over its DevTools protocol (the browser Odoo's own tests use), logged in
  as the practice manager or as the client, and saves one PNG per screen in docs/.

Nothing here is part of the addon or its suite; the pictures only have to stay current.
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests
import websocket

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tools import config

DOCS = Path(__file__).resolve().parent
PORTAL_LOGIN = "marcus.webb@example.com"
PORTAL_PASSWORD = "marcus.webb"  # demo only: the screenshots database is dropped afterwards

# One picture per screen: file, who is logged in, the URL's path, a CSS selector that is on
# screen once the page shows what the picture is for, and optionally one to click first.
SCREENS = [
    {
        "file": "billing-documents.png",
        "who": "admin",
        "path": "/odoo/action-practice_billing.action_billing_documents",
        "ready": ".o_list_renderer .o_data_row",
    },
    {
        "file": "billing-documents-graph.png",
        "who": "admin",
        "path": "/odoo/action-practice_billing.action_billing_documents?view_type=graph",
        "ready": ".o_graph_renderer canvas",
    },
    {
        "file": "billing-documents-pivot.png",
        "who": "admin",
        "path": "/odoo/action-practice_billing.action_billing_documents?view_type=pivot",
        "ready": ".o_pivot table",
    },
    {
        "file": "schedule.png",
        "who": "admin",
        "path": "/odoo/action-practice_billing.action_billing_schedule",
        # the demo books its coming sessions in the days ahead: next week shows them
        "click": ".o_calendar_button_next",
        "ready": ".o_calendar_view .fc-event",
    },
    {
        "file": "sessions.png",
        "who": "admin",
        "path": "/odoo/action-practice_billing.action_billing_sessions",
        "ready": ".o_list_renderer .o_data_row",
    },
    {
        "file": "runs.png",
        "who": "admin",
        "path": "/odoo/action-practice_billing.action_billing_runs",
        "ready": ".o_list_renderer .o_data_row",
    },
    {
        "file": "next-run.png",
        "who": "admin",
        "path": "/odoo/action-practice_billing.action_server_next_run",
        "ready": ".o_form_view",
    },
    {
        "file": "generate.png",
        "who": "admin",
        "path": "/odoo/action-practice_billing.action_billing_generate",
        "ready": ".o_form_view",
    },
    {
        "file": "client-billing.png",
        "who": "admin",
        "path": "/odoo/action-practice_billing.action_billing_clients/{client_id}",
        "click": ".o_notebook .nav-link:contains-text(Billing)",
        "ready": ".o_form_view .o_notebook .tab-pane.active [name=billing_delivery_method]",
    },
    {
        "file": "portal-home.png",
        "who": "client",
        "path": "/my",
        "ready": ".o_portal_index_card:not(.d-none) a[href='/my/statements']",
    },
    {
        "file": "portal-statement.png",
        "who": "client",
        "path": "/my/statements/{statement_id}",
        "ready": "#wrap table",
    },
    {
        "file": "portal-superbills.png",
        "who": "client",
        "path": "/my/superbills",
        "ready": "#wrap table",
    },
]


def prepare(db):
    """What the pictures need beyond the demo: a client's portal login. Returns URL values."""
    registry = Registry(db)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
        client = env.ref("practice_billing.client_marcus_webb")
        user = env["res.users"].search([("login", "=", PORTAL_LOGIN)])
        if not user:
            user = (
                env["res.users"]
                .with_context(no_reset_password=True)
                .create(
                    {
                        "login": PORTAL_LOGIN,
                        "partner_id": client.id,
                        "groups_id": [(6, 0, [env.ref("base.group_portal").id])],
                    }
                )
            )
        user.password = PORTAL_PASSWORD
        statement = env["practice.statement"].search([("partner_id", "=", client.id)], limit=1)
        return {"client_id": client.id, "statement_id": statement.id}


def session_cookie(base, db, login, password):
    response = requests.post(
        f"{base}/web/session/authenticate",
        json={"jsonrpc": "2.0", "params": {"db": db, "login": login, "password": password}},
        timeout=60,
    )
    response.raise_for_status()
    if response.json().get("error"):
        raise SystemExit(f"Login as {login} failed: {response.json()['error']}")
    return response.cookies["session_id"]


class Chromium:
    """The least of the DevTools protocol a screenshot needs: navigate, wait, capture."""

    def __init__(self, width=1400, height=900):
        self.profile = tempfile.mkdtemp(prefix="pb-shots-")
        self.process = subprocess.Popen(
            [
                shutil.which("chromium") or "chromium",
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--window-size={width},{height}",
                "--remote-debugging-port=9339",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.socket = websocket.create_connection(self._page_socket_url(), timeout=60)
        self.next_id = 0
        self.call("Page.enable")

    def _page_socket_url(self):
        for _ in range(100):
            try:
                pages = requests.get("http://127.0.0.1:9339/json", timeout=2).json()
                return next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
            except (requests.ConnectionError, StopIteration):
                time.sleep(0.2)
        raise SystemExit("Chromium did not open its DevTools port.")

    def call(self, method, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)[
            "result"
        ].get("value")

    def wait_for(self, selector, url, timeout=60):
        deadline = time.time() + timeout
        probe = (
            f"!!document.querySelector({json.dumps(selector)})"
            " && !document.querySelector('.o_loading_indicator, .o_portal_doc_spinner')"
        )
        while not self.evaluate(probe):
            if time.time() > deadline:
                raise SystemExit(f"{url}: nothing matched {selector} within {timeout} s.")
            time.sleep(0.3)

    def click(self, selector, url):
        """Click the first element matching ``selector``, or the first whose text is the
        given label when written ``css:contains-text(Label)`` (CSS has no text selector)."""
        css, _sep, label = selector.partition(":contains-text(")
        self.wait_for(css, url)
        match = (
            f".find(e => e.textContent.trim() === {json.dumps(label.rstrip(')'))})"
            if label
            else "[0]"
        )
        found = self.evaluate(
            f"(() => {{ const e = [...document.querySelectorAll({json.dumps(css)})]{match};"
            " if (e) { e.click(); } return !!e; })()"
        )
        if not found:
            raise SystemExit(f"{url}: nothing to click for {selector}.")

    def shoot(self, url, cookie, screen, path):
        self.call("Network.clearBrowserCookies")
        self.call("Network.setCookie", name="session_id", value=cookie, url=url)
        self.call("Page.navigate", url=url)
        if screen.get("click"):
            self.click(screen["click"], url)
        self.wait_for(screen["ready"], url)
        time.sleep(1.0)  # let charts finish their animation
        # Toasts (a sticky "page is out of date" when the bus worker outlives a change of
        # login between pictures) are not part of the screen being shown.
        self.evaluate(
            "document.querySelectorAll('.o_notification_manager').forEach(e => e.remove())"
        )
        shot = self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self):
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--url", required=True, help="the running Odoo, e.g. http://127.0.0.1:8078")
    parser.add_argument("--only", nargs="*", help="file names to make (default: all)")
    args = parser.parse_args()
    config.parse_config(["-c", args.config])
    values = prepare(args.db)
    cookies = {
        "admin": session_cookie(args.url, args.db, "admin", "admin"),
        "client": session_cookie(args.url, args.db, PORTAL_LOGIN, PORTAL_PASSWORD),
    }
    browser = Chromium()
    try:
        for screen in SCREENS:
            if args.only and screen["file"] not in args.only:
                continue
            url = args.url + screen["path"].format(**values)
            browser.shoot(url, cookies[screen["who"]], screen, DOCS / screen["file"])
            print(f"docs/{screen['file']}")
    finally:
        browser.close()


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    main()
