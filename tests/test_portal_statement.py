from datetime import timedelta

from lxml import html

from odoo import Command
from odoo.tests import new_test_user, tagged

from .test_portal import PortalClientCase


def _cells(page, table_class):
    """The text of each body row's cells of the table in (or of) ``table_class``."""
    rows = html.fromstring(page.content.decode()).xpath(
        f"//*[contains(concat(' ', @class, ' '), ' {table_class} ')]//tr[td]"
    )
    return [[" ".join(cell.text_content().split()) for cell in row.xpath("./td")] for row in rows]


@tagged("-at_install", "post_install")
class TestPortalStatementPage(PortalClientCase):
    """Jane's statement, as the PDF shows it: an old invoice 75 days past due ($80), last
    month's session invoiced on the 1st ($150), of which she paid $100."""

    def setUp(self):
        super().setUp()
        self.jane = self.jane_user.partner_id
        Statement = self.env["practice.statement"]
        run_statement = Statement.search([("partner_id", "=", self.jane.id)])
        self.run_date = run_statement.date
        run_statement.unlink()
        self.old_invoice = self._old_invoice(self.jane, self.run_date - timedelta(days=75), 80.0)
        invoice = self.env["account.move"].search(
            [("partner_id", "=", self.jane.id), ("billing_run_id", "!=", False)]
        )
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"amount": 100.0, "payment_date": self.run_date})._create_payments()
        self.statement = Statement._generate(self.jane, self.run_date, self.company)
        self.invoice = invoice

    def _old_invoice(self, client, day, amount):
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": client.id,
                "company_id": self.company.id,
                "invoice_date": day,
                "invoice_date_due": day,
                "invoice_line_ids": [
                    Command.create({"name": "Intake", "price_unit": amount, "tax_ids": []})
                ],
            }
        )
        invoice.action_post()
        return invoice

    def test_the_page_shows_the_statement_as_its_pdf_does(self):
        self.authenticate("jane_portal", "jane_portal")
        page = self.url_open(self.statement.get_portal_url())
        self.assertEqual(page.status_code, 200)
        text = " ".join(html.fromstring(page.text).text_content().split())
        self.assertIn(f"Statement {self.statement.name}", text)
        summary = _cells(page, "o_pb_statement_lines")
        self.assertEqual(
            [row[1:] for row in summary],
            [
                ["Previous balance", "", "", "$ 0.00"],
                [f"Invoice {self.old_invoice.name}", "$ 80.00", "", "$ 80.00"],
                [f"Invoice {self.invoice.name}", "$ 150.00", "", "$ 230.00"],
                [
                    f"Payment received, thank you ({self._payment_name()})",
                    "",
                    "$ 100.00",
                    "$ 130.00",
                ],
            ],
        )
        self.assertEqual(
            _cells(page, "o_pb_statement_aging"),
            [["$ 50.00", "$ 0.00", "$ 0.00", "$ 80.00", "$ 0.00"]],
            "current, 1-30, 31-60, 61-90, over 90 days",
        )
        # The figures are the statement's own, which its PDF prints.
        self.assertEqual(
            (self.statement.amount_charges, self.statement.amount_payments), (230.0, 100.0)
        )
        self.assertEqual(self.statement.balance_end, 130.0)
        self.assertEqual(
            _cells(page, "o_pb_statement_summary"),
            [
                ["Previous balance", "$ 0.00"],
                ["New charges", "$ 230.00"],
                ["Payments and credits", "$ 100.00"],
                ["Balance due", "$ 130.00"],
            ],
        )
        report = _cells(self.url_open(self.statement.get_portal_url(report_type="html")), "page")
        summary = {row[0]: row[1] for row in report if len(row) == 2}
        self.assertEqual(summary["New charges"], "$ 230.00", "the PDF's charges are the page's")

    def _payment_name(self):
        line = self.statement.line_ids.filtered(lambda line: line.amount < 0)
        return line.move_id.name

    def test_breadcrumbs_name_the_page(self):
        self.authenticate("jane_portal", "jane_portal")
        for url, crumbs in (
            ("/my/statements", ["Statements"]),
            (self.statement.get_portal_url(), ["Statements", self.statement.name]),
        ):
            page = html.fromstring(self.url_open(url).text)
            items = page.xpath("//ol[contains(@class, 'o_portal_submenu')]/li")
            self.assertEqual(
                [" ".join(item.text_content().split()) for item in items[1:]], crumbs, url
            )

    # ------------------------------------------------------------------ who may open it
    def test_token_link_opens_this_statement_only(self):
        token = self.statement._portal_ensure_token()
        marcus_statement = self.env["practice.statement"].search(
            [("partner_id", "=", self.marcus_user.partner_id.id)]
        )
        self.assertTrue(marcus_statement)
        # Logged out: the emailed link opens the statement, with its lines.
        page = self.url_open(f"/my/statements/{self.statement.id}?access_token={token}")
        self.assertEqual(page.status_code, 200)
        self.assertIn(f"Invoice {self.invoice.name}", page.text)
        crumbs = html.fromstring(page.text).xpath("//ol[contains(@class, 'o_portal_submenu')]//a")
        self.assertEqual(
            [crumb.get("href") for crumb in crumbs],
            ["/my/home", "/my/statements"],
            "the token is not passed on",
        )
        for url in (
            f"/my/statements/{self.statement.id}",
            f"/my/statements/{self.statement.id}?access_token=wrong",
            f"/my/statements/{marcus_statement.id}?access_token={token}",
            f"/my/statements/{marcus_statement.id}?access_token={token}&report_type=pdf",
            f"/my/statements/{self.statement.id}?access_token={token}x&report_type=html",
        ):
            response = self.url_open(url)
            self.assertEqual(response.status_code, 404, url)
            self.assertNotIn(self.invoice.name, response.text, url)
            self.assertNotIn("Marcus", response.text, url)

    def test_another_clients_statement_is_not_found(self):
        marcus_statement = self.env["practice.statement"].search(
            [("partner_id", "=", self.marcus_user.partner_id.id)]
        )
        self.authenticate("jane_portal", "jane_portal")
        for suffix in ("", "?report_type=html", "?report_type=pdf&download=true"):
            url = f"/my/statements/{marcus_statement.id}{suffix}"
            response = self.url_open(url)
            self.assertEqual(response.status_code, 404, url)
            self.assertNotIn("Marcus", response.text, url)
        self.assertNotIn(
            f"/my/statements/{marcus_statement.id}", self.url_open("/my/statements").text
        )

    def test_a_client_of_another_practice_gets_nothing(self):
        lakeside = self.env["res.company"].create({"name": "Lakeside Counseling"})
        lake_user = new_test_user(
            self.env,
            login="lake_client",
            groups="base.group_portal",
            company_id=lakeside.id,
            company_ids=[Command.set(lakeside.ids)],
        )
        lake_statement = self.env["practice.statement"].create(
            {
                "partner_id": lake_user.partner_id.id,
                "company_id": lakeside.id,
                "date": self.run_date,
                "date_start": self.run_date,
                "balance_end": 42.0,
            }
        )
        # Logged in, without the statements' tokens (those open a statement for anyone
        # holding the emailed link: see test_token_link_opens_this_statement_only).
        self.authenticate("lake_client", "lake_client")
        self.assertEqual(self.url_open(lake_statement.access_url).status_code, 200)
        for suffix in ("", "?report_type=html", "?report_type=pdf&download=true"):
            response = self.url_open(f"{self.statement.access_url}{suffix}")
            self.assertEqual(response.status_code, 404, suffix)
            self.assertNotIn(self.invoice.name, response.text, suffix)
        self.authenticate("jane_portal", "jane_portal")
        self.assertEqual(self.url_open(lake_statement.access_url).status_code, 404)
