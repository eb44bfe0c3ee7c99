"""Locust scenario of bench/portal_load.py: portal clients arriving after their documents.

Each simulated client, again and again, as a different client each visit (the logins
``client000@example.com``... with one password, from the environment):

log in, open My Account (and its counters, which the page loads by JSON-RPC as a browser
does), the invoices list, an invoice page (and its HTML preview, the page's iframe), the
invoice PDF; the superbills list, a superbill page, its PDF; the statements list, a statement
page, its PDF; log out. Between two pages the client reads for ``PB_THINK_MIN``-``PB_THINK_MAX``
seconds (default 1-3). Pages are checked (status, the page's own marker, PDFs start with
%PDF): a wrong answer counts as an error.

Run headless by bench/portal_load.py; not part of the addon (this file runs in the bench's
own virtualenv, with locust, not in Odoo's).
"""

import itertools
import os
import random
import re

import gevent
from locust import HttpUser, task

CLIENTS = int(os.environ.get("PB_CLIENTS", "200"))
PASSWORD = os.environ.get("PB_PASSWORD", "portal")
THINK = (float(os.environ.get("PB_THINK_MIN", "1")), float(os.environ.get("PB_THINK_MAX", "3")))
LOGINS = itertools.cycle(f"client{i:03d}@example.com" for i in range(CLIENTS))

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
COUNTERS = re.compile(r'data-placeholder_count="(\w+)"')
INVOICE_LINK = re.compile(r'href="(/my/invoices/\d+\?access_token=[\w-]+)')
SUPERBILL_LINK = re.compile(r'href="(/my/superbills/\d+)"')
STATEMENT_LINK = re.compile(r'href="(/my/statements/\d+(?:\?access_token=[\w-]+)?)"')
DOWNLOAD = re.compile(r'o_pb_download" href="([^"]+)"')


class PortalClient(HttpUser):
    def think(self):
        gevent.sleep(random.uniform(*THINK))

    def page(self, url, name, marker):
        """GET ``url`` (statistics under ``name``); an error unless 200 and ``marker`` is in
        the page. Returns the page's text ("" on error)."""
        with self.client.get(url, name=name, catch_response=True) as response:
            if response.status_code != 200 or marker not in response.text:
                response.failure(f"{response.status_code}, {marker!r} not in the page")
                return ""
            return response.text

    def pdf(self, url, name):
        with self.client.get(url, name=name, catch_response=True) as response:
            if response.status_code != 200 or not response.content.startswith(b"%PDF"):
                response.failure(f"{response.status_code}, not a PDF")

    def login(self, login):
        self.client.cookies.clear()
        form = self.page("/web/login", "/web/login", "csrf_token")
        csrf = CSRF.search(form)
        if not csrf:
            return False
        with self.client.post(
            "/web/login",
            data={"login": login, "password": PASSWORD, "csrf_token": csrf[1], "redirect": "/my"},
            name="/web/login (POST)",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 303 or "/my" not in response.headers.get("Location", ""):
                response.failure(f"{login}: login refused ({response.status_code})")
                return False
        return True

    def home(self):
        text = self.page("/my", "/my", "o_portal_my_home")
        counters = sorted(set(COUNTERS.findall(text)))
        with self.client.post(
            "/my/counters",
            json={"jsonrpc": "2.0", "method": "call", "params": {"counters": counters}},
            name="/my/counters",
            catch_response=True,
        ) as response:
            result = response.status_code == 200 and response.json().get("result")
            if not result or not all(result.get(c) for c in ("invoice_count", "statement_count")):
                response.failure(f"counters: {response.text[:200]}")

    def invoices(self):
        text = self.page("/my/invoices", "/my/invoices", "Invoices")
        links = INVOICE_LINK.findall(text)
        if not links:
            return
        self.think()
        link = random.choice(links).replace("&amp;", "&")
        self.page(link, "/my/invoices/[id]", "o_portal_sidebar")
        self.page(f"{link}&report_type=html", "/my/invoices/[id] (HTML preview)", "<html")
        self.think()
        self.pdf(f"{link}&report_type=pdf&download=true", "/my/invoices/[id] PDF")

    def documents(self, kind, link_re):
        text = self.page(f"/my/{kind}", f"/my/{kind}", "o_portal_wrap")
        links = link_re.findall(text)
        if not links:
            return
        self.think()
        link = random.choice(links).replace("&amp;", "&")
        page = self.page(link, f"/my/{kind}/[id]", "o_pb_download")
        download = DOWNLOAD.search(page)
        if download:
            self.think()
            self.pdf(download[1].replace("&amp;", "&"), f"/my/{kind}/[id] PDF")

    @task
    def visit(self):
        if not self.login(next(LOGINS)):
            return
        self.home()
        self.think()
        self.invoices()
        self.think()
        self.documents("superbills", SUPERBILL_LINK)
        self.think()
        self.documents("statements", STATEMENT_LINK)
        self.think()
        self.client.get("/web/session/logout", name="/web/session/logout")
