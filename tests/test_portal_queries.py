import json
from datetime import date, datetime, time
from unittest.mock import patch

from dateutil.relativedelta import relativedelta

import odoo.sql_db
from odoo import Command
from odoo.tests import new_test_user, tagged

from .common import PracticeHttpCase


@tagged("-at_install", "post_install")
class TestPortalQueries(PracticeHttpCase):
    """The client portal's pages cost the same number of queries for 1 document as for 10
    (issue #15: no N+1 in the counters and lists when clients arrive at the start of the
    month). Counted on the test's HTTP server, as the client's browser asks."""

    # Each URL's queries with one document of each kind, then with ten.
    PAGES = ("/my", "/my/invoices", "/my/superbills", "/my/statements")
    COUNTERS = ("invoice_count", "superbill_count", "statement_count")

    def setUp(self):
        super().setUp()
        self._record_provider_identifiers()
        self.user = new_test_user(
            self.env,
            login="ana_portal",
            name="Ana Ruiz",
            groups="base.group_portal",
            company_id=self.company.id,
            email="ana_portal@example.com",
        )
        self.client = self.user.partner_id
        self.client.billing_delivery_method = "manual"
        self._record_insurance(self.client)
        self.months = 0

    def _bill_a_month(self):
        """One more past month of the client: a session, billed by a staff run with the
        month's superbill and a statement: one more invoice, superbill and statement."""
        self.months += 1
        first = date.today().replace(day=1) - relativedelta(months=self.months)
        last = first + relativedelta(months=1, days=-1)
        self._create_session(
            self.client, datetime.combine(first, time(15)), billing_company_id=self.company.id
        )
        run = self.env["practice.billing.run"].create(
            {
                "company_id": self.company.id,
                "trigger": "manual",
                "cutoff": datetime.combine(last + relativedelta(days=1), time()),
                "invoice_date": last,
                "partner_ids": [Command.set(self.client.ids)],
                "superbill_date_start": first,
                "superbill_date_end": last,
                "statement_date": last,
            }
        )
        # Printing is not what is counted here (and needs no wkhtmltopdf process per month).
        Document = self.registry["practice.client.document"]
        with patch.object(Document, "_freeze_pdfs", lambda documents: None):
            run._execute()
        self.assertEqual(run.superbill_count, 1, run.superbill_ids.missing_info)
        self.assertEqual((run.invoice_count, run.statement_count), (1, 1))

    def _queries(self, url):
        """Queries of the server to answer ``url`` (the second time: the first fills
        Odoo's caches of views and assets)."""
        for _ in range(2):
            before = odoo.sql_db.sql_counter
            if url == "/my/counters":
                response = self.url_open(
                    url,
                    data=json.dumps({"params": {"counters": list(self.COUNTERS)}}),
                    headers={"Content-Type": "application/json"},
                )
            else:
                response = self.url_open(url)
            self.assertEqual(response.status_code, 200, url)
        return odoo.sql_db.sql_counter - before, response

    def _all_queries(self):
        return {url: self._queries(url)[0] for url in (*self.PAGES, "/my/counters")}

    def test_pages_cost_the_same_for_one_document_as_for_ten(self):
        self._bill_a_month()
        self.authenticate("ana_portal", "ana_portal")
        with_one = self._all_queries()
        for _ in range(9):
            self._bill_a_month()
        with_ten = self._all_queries()
        _queries, counters = self._queries("/my/counters")
        # Odoo's invoice counter only says whether there are any (search_count limit=1).
        result = counters.json()["result"]
        self.assertEqual((result["superbill_count"], result["statement_count"]), (10, 10))
        self.assertTrue(result["invoice_count"])
        self.assertEqual(with_ten, with_one)
