from datetime import date, datetime, timedelta
from urllib.parse import urlparse

from lxml import html

from odoo import Command
from odoo.tests import new_test_user, tagged

from .common import PracticeHttpCase


@tagged("-at_install", "post_install")
class TestPortalWhoPays(PracticeHttpCase):
    """Who pays (#14) in the client portal, login by login.

    The Rivera household is a company with contacts: Pat pays for Ava (a child without a
    login) and Teo (a teenager with his own login, who paid one invoice himself before);
    Hal, Pat's father, is a client who pays for himself. Cam pays for Dee, his wife, who is
    filed under him and has her own login. Sol is a stranger. Each has what the practice
    issued: invoices to whoever paid, superbills per patient, statements."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._record_provider_identifiers()
        household = cls.env["res.partner"].create({"name": "Rivera Household", "is_company": True})
        cls.users = {}
        cls.pat = cls._person("pat", "Pat Rivera", parent_id=household.id)
        cls.hal = cls._person("hal", "Hal Rivera", parent_id=household.id)
        cls.teo = cls._person("teo", "Teo Rivera", parent_id=household.id)
        cls.ava = cls._create_client("Ava Rivera", parent_id=household.id)
        cls.cam = cls._person("cam", "Cam Silva")
        cls.dee = cls._person("dee", "Dee Silva", parent_id=cls.cam.id)
        cls.sol = cls._person("sol", "Sol Park")
        for dependent, payer, relationship in (
            (cls.ava, cls.pat, "child"),
            (cls.teo, cls.pat, "child"),
            (cls.dee, cls.cam, "spouse"),
        ):
            dependent.write(
                {"billing_responsible_id": payer.id, "billing_insured_relationship": relationship}
            )
        month = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
        cls.period = (month, (month + timedelta(days=32)).replace(day=1) - timedelta(days=1))
        day = datetime.combine(month, datetime.min.time()).replace(hour=15)
        session = {}
        for client, offset in (
            (cls.ava, 1),
            (cls.teo, 2),
            (cls.teo, 9),
            (cls.hal, 3),
            (cls.dee, 4),
            (cls.sol, 5),
        ):
            cls._record_insurance(client, member_id=f"M-{client.name.split()[0]}")
            session[client.name, offset] = cls._create_session(
                client, day + timedelta(days=offset), billing_company_id=cls.company.id
            )
        cls.invoices = {
            "pat": cls._invoice(cls.pat, session["Ava Rivera", 1] | session["Teo Rivera", 9]),
            # Teo paid his first session himself, before his mother became his payer.
            "teo": cls._invoice(cls.teo, session["Teo Rivera", 2]),
            "hal": cls._invoice(cls.hal, session["Hal Rivera", 3]),
            "cam": cls._invoice(cls.cam, session["Dee Silva", 4]),
            "sol": cls._invoice(cls.sol, session["Sol Park", 5]),
        }
        Superbill = cls.env["practice.superbill"]
        clients = cls.ava | cls.teo | cls.hal | cls.dee | cls.sol
        issued = Superbill._generate(clients, *cls.period, cls.company)
        cls.superbills = {superbill.partner_id: superbill for superbill in issued}
        for superbill in issued:
            assert superbill.state == "issued", superbill.missing_info
        Statement = cls.env["practice.statement"]
        cls.statements = {
            person: Statement.create(
                {
                    "partner_id": person.id,
                    "company_id": cls.company.id,
                    "date": date.today(),
                    "date_start": month,
                }
            )
            for person in (cls.pat, cls.ava, cls.teo, cls.hal, cls.cam, cls.dee, cls.sol)
        }

    @classmethod
    def _person(cls, login, name, **vals):
        user = new_test_user(
            cls.env,
            login=login,
            name=name,
            groups="base.group_portal",
            company_id=cls.company.id,
            email=f"{login}@example.com",
        )
        user.partner_id.write(vals)
        cls.users[login] = user
        return user.partner_id

    @classmethod
    def _invoice(cls, payer, sessions):
        """A posted invoice to ``payer`` with one line per session, each naming its client
        (as the run makes them for a payer, #14)."""
        invoice = cls.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": payer.id,
                "invoice_date": date.today(),
                "invoice_line_ids": [
                    Command.create(
                        {
                            "product_id": session.billing_product_id.id,
                            "name": f"{session.billing_client_id.name}: 90837",
                            "quantity": 1,
                            "price_unit": 150.0,
                            "tax_ids": [],
                            "billing_session_id": session.id,
                        }
                    )
                    for session in sessions
                ],
            }
        )
        invoice.action_post()
        return invoice

    def _expected(self, login):
        """What ``login`` sees: (invoices, superbills, statements)."""
        inv, sb, st = self.invoices, self.superbills, self.statements
        return {
            # The payer: the invoice they pay, their children's superbills and statements,
            # their own statements; none of their father's (a household member).
            "pat": (
                inv["pat"],
                sb[self.ava] | sb[self.teo],
                st[self.pat] | st[self.ava] | st[self.teo],
            ),
            # The teenager: what he paid himself and his own; none of his mother's invoice
            # for his and his sister's sessions, none of his sister's.
            "teo": (inv["teo"], sb[self.teo], st[self.teo]),
            # A household member who pays for himself: his own, nothing of the others.
            "hal": (inv["hal"], sb[self.hal], st[self.hal]),
            "cam": (inv["cam"], sb[self.dee], st[self.cam] | st[self.dee]),
            # The partner who does not pay (filed under the one who does): her own
            # superbills and statements, no invoice.
            "dee": (self.env["account.move"], sb[self.dee], st[self.dee]),
            "sol": (inv["sol"], sb[self.sol], st[self.sol]),
        }[login]

    def _everything(self):
        invoices = self.env["account.move"].union(*self.invoices.values())
        superbills = self.env["practice.superbill"].union(*self.superbills.values())
        statements = self.env["practice.statement"].union(*self.statements.values())
        return invoices, superbills, statements

    def _links(self, url):
        page = html.fromstring(self.url_open(url).text)
        return {href.split("?")[0] for href in page.xpath("//a/@href")}

    def _rpc_ids(self, model, domain=None):
        return {
            row["id"]
            for row in self.make_jsonrpc_request(
                f"/web/dataset/call_kw/{model}/search_read",
                {
                    "model": model,
                    "method": "search_read",
                    "args": [domain or []],
                    "kwargs": {"fields": ["id"]},
                },
            )
        }

    def _assert_served(self, url, served, login):
        response = self.url_open(url, allow_redirects=False)
        if served:
            self.assertEqual(response.status_code, 200, f"{login}: {url}")
        else:
            # Odoo sends a refused invoice to /my; ours answer 404, reports 403.
            self.assertIn(response.status_code, (303, 403, 404), f"{login}: {url}")
            self.assertNotIn(b"M-", response.content, f"{login}: {url}")
            self.assertNotIn(b"90837", response.content, f"{login}: {url}")

    def test_each_login_sees_exactly_what_they_pay_for_or_their_own(self):
        all_invoices, all_superbills, all_statements = self._everything()
        for login in ("pat", "teo", "hal", "cam", "dee", "sol"):
            invoices, superbills, statements = self._expected(login)
            self.authenticate(login, login)
            # Home counters (Odoo's invoice counter says whether there is any).
            self.assertEqual(
                self.make_jsonrpc_request(
                    "/my/counters",
                    {"counters": ["invoice_count", "superbill_count", "statement_count"]},
                ),
                {
                    "invoice_count": min(len(invoices), 1),
                    "superbill_count": len(superbills),
                    "statement_count": len(statements),
                },
                login,
            )
            # Lists.
            links = self._links("/my/invoices")
            for invoice in all_invoices:
                self.assertEqual(invoice.access_url in links, invoice in invoices, login)
            links = self._links("/my/superbills")
            for superbill in all_superbills:
                self.assertEqual(superbill.access_url in links, superbill in superbills, login)
            links = self._links("/my/statements")
            for statement in all_statements:
                self.assertEqual(statement.access_url in links, statement in statements, login)
            # Pages and PDFs, by the portal and by the report routes.
            for invoice in all_invoices:
                served = invoice in invoices
                for url in (
                    invoice.access_url,
                    f"{invoice.access_url}?report_type=pdf&download=true",
                    f"/report/pdf/account.report_invoice/{invoice.id}",
                    f"/report/html/account.report_invoice/{invoice.id}",
                ):
                    self._assert_served(url, served, login)
            for superbill in all_superbills:
                served = superbill in superbills
                for url in (
                    superbill.access_url,
                    f"{superbill.access_url}?report_type=pdf&download=true",
                    f"/report/pdf/practice_billing.report_superbill/{superbill.id}",
                ):
                    self._assert_served(url, served, login)
            for statement in all_statements:
                served = statement in statements
                for url in (
                    statement.access_url,
                    f"{statement.access_url}?report_type=pdf&download=true",
                    f"/report/pdf/practice_billing.report_statement/{statement.id}",
                ):
                    self._assert_served(url, served, login)
            # JSON-RPC, as the web client would ask.
            self.assertEqual(
                self._rpc_ids("account.move", [("id", "in", all_invoices.ids)]),
                set(invoices.ids),
                login,
            )
            lines = self.make_jsonrpc_request(
                "/web/dataset/call_kw/account.move.line/search_read",
                {
                    "model": "account.move.line",
                    "method": "search_read",
                    "args": [[("move_id", "in", all_invoices.ids)]],
                    "kwargs": {"fields": ["move_id"]},
                },
            )
            self.assertEqual({line["move_id"][0] for line in lines}, set(invoices.ids), login)
            self.assertEqual(self._rpc_ids("practice.superbill"), set(superbills.ids), login)
            self.assertEqual(
                {
                    line["superbill_id"][0]
                    for line in self.make_jsonrpc_request(
                        "/web/dataset/call_kw/practice.superbill.line/search_read",
                        {
                            "model": "practice.superbill.line",
                            "method": "search_read",
                            "args": [[]],
                            "kwargs": {"fields": ["superbill_id"]},
                        },
                    )
                },
                set(superbills.ids),
                login,
            )
            self.assertEqual(self._rpc_ids("practice.statement"), set(statements.ids), login)

    def test_a_stranger_sees_nothing_of_the_practices_clients(self):
        stranger = new_test_user(self.env, login="stranger", groups="base.group_portal")
        self.authenticate("stranger", "stranger")
        counters = self.make_jsonrpc_request(
            "/my/counters", {"counters": ["invoice_count", "superbill_count", "statement_count"]}
        )
        self.assertEqual(set(counters.values()), {0})
        invoices, superbills, statements = self._everything()
        self.assertFalse(self._rpc_ids("account.move", [("id", "in", invoices.ids)]))
        self.assertFalse(self._rpc_ids("practice.superbill"))
        self.assertFalse(self._rpc_ids("practice.statement"))
        for records in (invoices, superbills, statements):
            for record in records:
                self._assert_served(record.access_url, False, stranger.login)

    def test_the_payers_lists_are_grouped_by_client(self):
        self.authenticate("pat", "pat")
        for url, clients in (
            ("/my/superbills", ["Ava Rivera", "Teo Rivera"]),
            ("/my/statements", ["Pat Rivera", "Ava Rivera", "Teo Rivera"]),
        ):
            page = html.fromstring(self.url_open(url).text)
            groups = page.xpath("//tr[contains(@class, 'o_pb_client_group')]")
            self.assertEqual([group.text_content().strip() for group in groups], clients, url)
            # Each client's documents under their name.
            for group in groups:
                rows = group.getparent().xpath("./tr[not(contains(@class, 'o_pb_client_group'))]")
                self.assertEqual(len(rows), 1, f"{url}: {group.text_content()}")
        page = self.url_open(self.superbills[self.ava].access_url).text
        self.assertIn("Ava Rivera", page, "a dependent's superbill names its client")
        # Teo pays for nobody: his lists are as before, without groups.
        self.authenticate("teo", "teo")
        for url in ("/my/superbills", "/my/statements"):
            page = html.fromstring(self.url_open(url).text)
            self.assertFalse(page.xpath("//tr[contains(@class, 'o_pb_client_group')]"), url)
            self.assertNotIn("Ava Rivera", self.url_open(url).text, url)

    def _request_superbill(self, client, first, last):
        page = html.fromstring(self.url_open("/my/superbills").text)
        [csrf] = page.xpath("//input[@name='csrf_token']/@value")
        data = {"date_from": str(first), "date_to": str(last), "csrf_token": csrf}
        return self.url_open("/my/superbills/request", data={**data, "client_id": client.id})

    def _request_choices(self):
        page = html.fromstring(self.url_open("/my/superbills").text)
        return [option.text for option in page.xpath("//select[@name='client_id']/option")]

    def test_a_payer_asks_for_a_superbill_of_a_client_they_pay_for(self):
        last = self.period[0] - timedelta(days=1)
        first = last.replace(day=1)
        session = self._create_session(
            self.ava,
            datetime.combine(first.replace(day=6), datetime.min.time()).replace(hour=15),
            billing_company_id=self.company.id,
        )
        self._invoice(self.pat, session)
        Superbill = self.env["practice.superbill"]
        self.authenticate("pat", "pat")
        self.assertEqual(self._request_choices(), ["Pat Rivera", "Ava Rivera", "Teo Rivera"])
        response = self._request_superbill(self.ava, first, last)
        self.assertEqual(urlparse(response.url).path, "/my/superbills")
        requested = Superbill.search([("partner_id", "=", self.ava.id), ("state", "=", "draft")])
        self.assertTrue(requested.requested_by_client)
        self.assertEqual(requested.line_ids.session_id, session, "Ava's, as Pat asked")
        listing = html.fromstring(response.text)
        [ava_group] = listing.xpath("//tbody[tr/th[normalize-space()='Ava Rivera']]")
        self.assertIn(requested.name, ava_group.text_content(), "Requested, under Ava")
        # Never for a client Pat does not pay for: his father, or anybody by their id.
        for other in (self.hal, self.cam):
            response = self._request_superbill(other, first, last)
            self.assertEqual(response.status_code, 404, other.name)
        others = Superbill.search([("partner_id", "in", (self.hal | self.cam).ids)])
        self.assertFalse(others.filtered(lambda superbill: superbill.state == "draft"))
        # Teo pays for nobody: no choice, and he may not ask for his sister.
        self.authenticate("teo", "teo")
        self.assertEqual(self._request_choices(), [])
        self.assertEqual(self._request_superbill(self.ava, first, last).status_code, 404)

    def test_the_invoices_messages_and_files_follow_the_invoice(self):
        """A file posted on the invoice (its PDF, as sent) reaches a portal user through the
        invoice's chatter only, for whoever may read the invoice (Odoo never serves a portal
        user an attachment by its id alone)."""
        invoice = self.invoices["pat"]
        attachment = self.env["ir.attachment"].create(
            {"name": "invoice.pdf", "raw": b"%PDF-1.4 Ava Rivera 90837"}
        )
        message = invoice.message_post(
            body="Your invoice for Ava and Teo.",
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
            attachment_ids=attachment.ids,
        )
        params = {"thread_model": "account.move", "thread_id": invoice.id}
        for login, served in (("pat", True), ("teo", False), ("hal", False), ("sol", False)):
            self.authenticate(login, login)
            response = self.url_open(f"/web/content/{attachment.id}?download=true")
            self.assertIn(response.status_code, (403, 404), login)
            self.assertNotIn(b"Ava Rivera", response.content, login)
            messages = self.make_jsonrpc_request("/mail/chatter_fetch", params)["messages"]
            self.assertEqual(message.id in messages, served, login)

    def test_the_invoice_email_link_opens_it_as_odoo_does(self):
        """The link in the invoice's email carries its access token: whoever holds it opens
        that one invoice, logged in or not (Odoo's behaviour, unchanged)."""
        invoice = self.invoices["pat"]
        url = invoice.get_portal_url()
        self.assertIn("access_token=", url)
        self.assertEqual(self.url_open(url).status_code, 200)
        self.authenticate("hal", "hal")
        self.assertEqual(self.url_open(url, allow_redirects=False).status_code, 200)
        self.assertNotIn(invoice.access_url, self._links("/my/invoices"), "never in his list")

    def test_staff_are_not_narrowed(self):
        boss = new_test_user(
            self.env,
            login="billing_boss",
            groups="practice_billing.group_billing_manager",
            company_id=self.company.id,
        )
        for records in self._everything():
            mine = self.env[records._name].with_user(boss).search([("id", "in", records.ids)])
            self.assertEqual(mine, records, records._name)
        invoices = self._everything()[0]
        lines = (
            self.env["account.move.line"].with_user(boss).search([("move_id", "in", invoices.ids)])
        )
        self.assertEqual(lines.move_id, invoices)


@tagged("-at_install", "post_install")
class TestPortalOtherCustomers(PracticeHttpCase):
    """The practice's company invoices another business too: Odoo's own portal sharing
    applies to those invoices, unchanged."""

    def test_a_contact_sees_the_companys_invoices(self):
        acme = self.env["res.partner"].create({"name": "Acme Supplies", "is_company": True})
        ann = new_test_user(
            self.env, login="ann", name="Ann Acme", groups="base.group_portal"
        ).partner_id
        ann.parent_id = acme
        bob = self.env["res.partner"].create({"name": "Bob Acme", "parent_id": acme.id})
        product = self.env["product.product"].create({"name": "Office rent", "list_price": 900})
        invoices = self.env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": customer.id,
                    "invoice_date": date.today(),
                    "invoice_line_ids": [
                        Command.create({"product_id": product.id, "price_unit": 900, "tax_ids": []})
                    ],
                }
                for customer in (acme, bob)
            ]
        )
        invoices.action_post()
        self.assertFalse(any(invoices.mapped("billing_bills_sessions")))
        self.authenticate("ann", "ann")
        page = self.url_open("/my/invoices").text
        for invoice in invoices:
            self.assertIn(invoice.access_url, page, invoice.partner_id.name)
            self.assertEqual(self.url_open(invoice.access_url).status_code, 200)
        mine = self.env["account.move"].with_user(ann.user_ids).search([("id", "in", invoices.ids)])
        self.assertEqual(mine, invoices)
