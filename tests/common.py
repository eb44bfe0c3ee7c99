"""The suite's one practice fixture, for both kinds of test case.

``PracticeFixtures`` builds what a practice has (services, clients, sessions, its NPIs and Tax
ID, a client's insurance); ``PracticeBillingCase`` puts it on Odoo's own accounting fixture
(in-process tests), ``PracticeHttpCase`` on a practice company of its own behind the test's
HTTP server (tours, portal, real PDFs: see tests/pdf.py). ``ConcurrencyCase`` commits a
practice of its own for races between Odoo workers, and deletes everything committed after.
"""

import uuid
from datetime import datetime, timedelta

import psycopg2.errors
from freezegun import freeze_time

import odoo.http
from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, HttpCase, get_db_name, new_test_user
from odoo.tools import SQL, mute_logger

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

from .pdf import PdfChecks


class PracticeFixtures:
    """What a practice has. Class methods, set up once per test class (``cls.company``,
    ``cls.clinician`` and ``cls.service_53`` are the practice, its clinician and its
    53-minute psychotherapy)."""

    @classmethod
    def _create_billing_service(cls, name, cpt_code, price):
        return cls.env["product.product"].create(
            {
                "name": name,
                "type": "service",
                "list_price": price,
                "billing_cpt_code": cpt_code,
                "taxes_id": [],
            }
        )

    @classmethod
    def _create_client(cls, name, **vals):
        return cls.env["res.partner"].create({"name": name, **vals})

    @classmethod
    def _create_session(cls, client, start, service=None, minutes=53, **vals):
        """Book a session the way staff do: the clinician organizes, the client attends."""
        if isinstance(start, str):
            start = datetime.fromisoformat(start)
        return (
            cls.env["calendar.event"]
            .with_context(no_mail_to_attendees=True)
            .create(
                {
                    "name": f"{client.name} session",
                    "start": start,
                    "stop": start + timedelta(minutes=minutes),
                    "user_id": cls.clinician.id,
                    "partner_ids": [(6, 0, [client.id, cls.clinician.partner_id.id])],
                    "billing_product_id": (service or cls.service_53).id,
                    **vals,
                }
            )
        )

    @classmethod
    def _create_failing_session(cls, client, start):
        """A session whose service was archived since: the run fails ``client`` and records
        why (Runs > Failures)."""
        retired = cls._create_billing_service("Psychotherapy, 30 min", "90832", 100.0)
        session = cls._create_session(client, start, service=retired)
        retired.active = False
        return session

    @classmethod
    def _create_people(cls):
        """A Billing User, a Billing Manager and a client with portal access."""
        cls.billing_user = new_test_user(
            cls.env, login="billing_user", groups="practice_billing.group_billing_user"
        )
        cls.billing_manager = new_test_user(
            cls.env, login="billing_manager", groups="practice_billing.group_billing_manager"
        )
        cls.portal_user = new_test_user(cls.env, login="jane_portal", groups="base.group_portal")
        cls.portal_client = cls.portal_user.partner_id

    @classmethod
    def _record_provider_identifiers(cls):
        """The practice issues superbills and statements and has its NPIs and Tax ID."""
        cls.company.write(
            {
                "billing_auto_statement": True,
                "billing_auto_superbill": True,
                "billing_npi": "1245319599",
                "billing_tax_id": "12-3456789",
            }
        )
        cls.clinician.billing_npi = "1234567893"

    @classmethod
    def _record_insurance(cls, client, member_id="W1"):
        """Everything an insurer needs about ``client``, with a diagnosis since 2020."""
        client.write(
            {
                "billing_needs_superbill": True,
                "billing_birthdate": "1988-04-12",
                "billing_insurance_payer": "Aetna",
                "billing_insurance_member_id": member_id,
            }
        )
        cls.env["practice.client.diagnosis"].create(
            {
                "partner_id": client.id,
                "code": "F41.1",
                "description": "Generalized anxiety disorder",
                "date_start": "2020-01-01",
            }
        )
        return client


class PracticeBillingCase(PracticeFixtures, AccountTestInvoicingCommon):
    """A practice with a chart of accounts, a clinician, services and clients.

    Composes Odoo's own accounting fixture so invoices post exactly as in a real company.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, no_mail_to_attendees=True))
        # Odoo's accounting test user runs the practice: billing roles are granted, never
        # implied by accounting groups.
        cls.env.user.groups_id |= cls.env.ref("practice_billing.group_billing_manager")
        cls.company = cls.env.company
        cls.company.partner_id.tz = "America/New_York"
        # The database's demo practice bills automatically; the tests' practice stands alone.
        cls.env["res.company"].sudo().search([("id", "!=", cls.company.id)]).write(
            {"billing_auto_invoice": False, "billing_past_due_reminder": False}
        )
        cls.clinician = new_test_user(
            cls.env, login="clinician", name="Maya Chen", groups="base.group_user"
        )
        cls.service_intake = cls._create_billing_service("Intake Evaluation", "90791", 200.0)
        cls.service_45 = cls._create_billing_service("Psychotherapy, 45 min", "90834", 130.0)
        cls.service_53 = cls._create_billing_service("Psychotherapy, 53 min", "90837", 150.0)
        cls.client_jane = cls._create_client("Jane Doe", email="jane@example.com")
        cls.client_marcus = cls._create_client("Marcus Webb", email="marcus@example.com")

    # ------------------------------------------------------------------ billing helpers
    def _cron(self, utc_now):
        """Run the scheduled billing job at ``utc_now``; return the runs it made."""
        Run = self.env["practice.billing.run"]
        before = Run.search([])
        with freeze_time(utc_now):
            Run._cron_billing_run()
        return Run.search([]) - before

    def _invoices_of(self, client):
        return self.env["account.move"].search(
            [("partner_id", "=", client.id), ("move_type", "=", "out_invoice")], order="id"
        )

    def _assert_billed_once(self, sessions):
        """Each session is on exactly one line of a non-cancelled invoice, at its amount."""
        lines = self.env["account.move.line"].search(
            [("billing_session_ids", "in", sessions.ids), ("parent_state", "!=", "cancel")]
        )
        self.assertEqual(len(lines), len(sessions))
        self.assertEqual(lines.billing_session_ids, sessions)
        for session in sessions:
            self.assertEqual(session.billing_state, "invoiced", session.name)


def read_addon_manifests_now():
    """Build Odoo's map of static folders (it reads every manifest) in this one thread.

    Python 3.11's ast is not thread-safe ("SystemError: AST constructor recursion depth
    mismatch"): when Chromium's first requests reach a fresh test server together, several
    threads build that map at once and a request fails, failing the tour.
    """
    return odoo.http.root.statics


class PracticeHttpCase(PracticeFixtures, PdfChecks, HttpCase):
    """A practice company of its own (Riverside Therapy, generic chart of accounts) behind
    the test's HTTP server: tours, the portal and real PDFs (HttpCase data is visible to
    the server, which wkhtmltopdf may ask for report assets)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        read_addon_manifests_now()
        cls.env["ir.config_parameter"].sudo().set_param("report.url", cls.base_url())
        cls.company = cls._practice()
        cls.env = cls.env(context=dict(cls.env.context, allowed_company_ids=cls.company.ids))
        cls.clinician = new_test_user(
            cls.env, login="maya", name="Maya Chen", company_id=cls.company.id
        )
        cls.service_53 = cls._create_billing_service("Psychotherapy, 53 min", "90837", 150.0)
        cls.service = cls.service_53

    @classmethod
    def _practice(cls):
        company = cls.env["res.company"].create(
            {
                "name": "Riverside Therapy",
                "email": "billing@riverside.example",
                "phone": "+1 503 555 0100",
                "street": "12 Elm Street",
                "city": "Portland",
                "billing_auto_invoice": True,
                # Invoices of the 1st are due on the 31st: not past due within the month.
                "billing_payment_term_id": cls.env.ref("account.account_payment_term_30days").id,
            }
        )
        cls.env["account.chart.template"].try_loading("generic_coa", company=company)
        cls.env.user.company_ids |= company
        return company

    @classmethod
    def _portal_client(cls, login, name, **partner_vals):
        """A portal user of the practice (password = login); returns its contact, with
        ``partner_vals`` written on it (a household as parent_id, say)."""
        user = new_test_user(
            cls.env,
            login=login,
            name=name,
            groups="base.group_portal",
            company_id=cls.company.id,
            email=f"{login}@example.com",
        )
        user.partner_id.write(partner_vals)
        return user.partner_id

    def _rpc(self, model, method, *args, **kwargs):
        """A JSON-RPC call_kw as the logged-in user, as the web client makes it."""
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        )

    def _admin_works_here(self):
        """The database's administrator, who tours log in as, works in this practice."""
        self.env.ref("base.user_admin").write(
            {"company_ids": [Command.link(self.company.id)], "company_id": self.company.id}
        )

    def _client_with_sessions(self, name, address, method, **vals):
        client = self._create_client(name, email=address, billing_delivery_method=method, **vals)
        self._add_sessions(client)
        return client

    def _add_sessions(self, client, weeks=(0, 7)):
        """Sessions with ``client`` last month: on the 2nd, plus ``weeks`` days."""
        last_month = (datetime.now().replace(day=1) - timedelta(days=1)).replace(
            day=2, hour=15, minute=0, second=0, microsecond=0
        )
        for week in weeks:
            self._create_session(
                client, last_month + timedelta(days=week), billing_company_id=self.company.id
            )


# ---------------------------------------------------------------------- committed practices
def last_ids(cr):
    """{table: the last id its sequence handed out} for every table with an id sequence, read
    in one query (ids are never handed out twice, even by transactions rolled back)."""
    cr.execute(
        """
        SELECT c.relname, COALESCE(pg_sequence_last_value(s.oid), 0)
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
          JOIN pg_depend d ON d.refobjid = c.oid AND d.deptype IN ('a', 'i')
          JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid
         WHERE c.relkind = 'r' AND a.attname = 'id'
        """
    )
    return dict(cr.fetchall())


def rows_committed_since(cr, before):
    """{table: number of rows} made since ``before`` (see last_ids), in tables that have any."""
    advanced = sorted(t for t, last in last_ids(cr).items() if last > before.get(t, 0))
    counts = {}
    for table in advanced:
        cr.execute(
            SQL(
                "SELECT count(*) FROM %s WHERE id > %s", SQL.identifier(table), before.get(table, 0)
            )
        )
        if count := cr.fetchone()[0]:
            counts[table] = count
    return counts


def delete_rows_committed_since(cr, before):
    """Delete every row made since ``before`` (see last_ids), in every table.

    Odoo's ORM cannot undo a committed practice: posted invoices may not be deleted (Odoo
    keeps an entry's number and hash chain), nor a company with a chart of accounts and
    journal entries. So this deletes in SQL, table after table, retrying a table whose rows
    are still referenced (a foreign key) once the others are gone, until all are. The
    database's own foreign keys keep it whole: ON DELETE CASCADE / SET NULL apply, and a
    row still referenced by an older one stops the cleanup with an error instead of leaving
    a dangling reference. Files of attachments go through the ORM first (Odoo's file store
    garbage collector then removes them); "standard" ir.sequence rows own a PostgreSQL
    sequence, dropped with them.
    """
    env = api.Environment(cr, SUPERUSER_ID, {})
    attachments = env["ir.attachment"].browse(
        range(before.get("ir_attachment", 0) + 1, last_ids(cr).get("ir_attachment", 0) + 1)
    )
    attachments.exists().unlink()
    cr.execute(
        "SELECT id FROM ir_sequence WHERE id > %s AND implementation = 'standard'",
        [before.get("ir_sequence", 0)],
    )
    for (sequence_id,) in cr.fetchall():
        cr.execute(
            SQL("DROP SEQUENCE IF EXISTS %s", SQL.identifier(f"ir_sequence_{sequence_id:03d}"))
        )
    pending = set(rows_committed_since(cr, before))
    while pending:
        referenced = {}
        for table in sorted(pending):
            try:
                # A table still referenced fails, as expected: not an error to log.
                with mute_logger("odoo.sql_db"), cr.savepoint(flush=False):
                    cr.execute(
                        SQL(
                            "DELETE FROM %s WHERE id > %s",
                            SQL.identifier(table),
                            before.get(table, 0),
                        )
                    )
            except (psycopg2.errors.ForeignKeyViolation, psycopg2.errors.NotNullViolation) as e:
                referenced[table] = e
        if len(referenced) == len(pending):
            raise AssertionError(f"rows committed by the test are still referenced: {referenced}")
        pending = set(referenced)
    env.invalidate_all()


class ConcurrencyCase(BaseCase):
    """A committed practice of the test's own, for races between Odoo workers (threads, or
    OS processes, each on a database connection and transaction of its own).

    TransactionCase shares one transaction between all cursors, so it cannot show what two
    workers do: these tests commit their data. Every row committed from setUp on (or from
    setUpClass on, see PRACTICE_PER_TEST) is deleted after the test (or the class), whoever
    committed it (the test, a worker, another process), and the cleanup checks that nothing
    is left: no invoice waits for Odoo's sending, no email in the mail queue for a later
    test to send.
    """

    CONTEXT = {"no_mail_to_attendees": True, "tracking_disable": True}
    # Each test commits a practice of its own (a run of the month marks its period done);
    # False: one practice for the class, committed in setUpClass, deleted after the class.
    PRACTICE_PER_TEST = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())
        with cls.registry.cursor() as cr:
            cls.admin_id = api.Environment(cr, SUPERUSER_ID, {}).ref("base.user_admin").id
        if not cls.PRACTICE_PER_TEST:
            cls._delete_committed_rows_later(cls.addClassCleanup)

    def setUp(self):
        super().setUp()
        if self.PRACTICE_PER_TEST:
            self._delete_committed_rows_later(self.addCleanup)

    @classmethod
    def _delete_committed_rows_later(cls, add_cleanup):
        """Note where every table's ids stand; ``add_cleanup`` (addCleanup, addClassCleanup)
        then deletes every row committed since, and checks that none is left."""
        with cls.registry.cursor() as cr:
            before = last_ids(cr)
        add_cleanup(cls._delete_rows_committed_since, before)

    @classmethod
    def _delete_rows_committed_since(cls, before):
        with cls.registry.cursor() as cr:
            delete_rows_committed_since(cr, before)
        # Odoo's caches (a user's companies, xml ids) may name what was deleted.
        cls.registry.clear_all_caches()
        with cls.registry.cursor() as cr:
            left = rows_committed_since(cr, before)
        if left:
            raise AssertionError(f"the test left committed rows behind: {left}")

    def _env(self, cr, uid=SUPERUSER_ID):
        return api.Environment(cr, uid, dict(self.CONTEXT, allowed_company_ids=[self.company_id]))

    @classmethod
    def _commit_practice(cls, cr, name, **vals):
        """A practice with the generic chart of accounts, where the administrator (Billing:
        Manager) works; returned in ``cr``, in that practice."""
        env = api.Environment(cr, SUPERUSER_ID, cls.CONTEXT)
        company = env["res.company"].create({"name": f"{name} {uuid.uuid4().hex[:8]}", **vals})
        env["account.chart.template"].try_loading("generic_coa", company=company)
        env.ref("base.user_admin").company_ids |= company
        return company.with_context(allowed_company_ids=company.ids)

    @classmethod
    def _commit_clients_with_sessions(cls, company, names, **client_vals):
        """Clients of ``company`` named ``names``, each with two 53-minute sessions of
        psychotherapy last month (a week apart), billable by the month's run. Returns
        (clients, sessions) in the order of ``names``."""
        env = company.env
        service = env["product.product"].create(
            {
                "name": "Psychotherapy, 53 min",
                "type": "service",
                "list_price": 150.0,
                "billing_cpt_code": "90837",
                # Committed: kept to its practice, out of every other practice's services.
                "company_id": company.id,
            }
        )
        service.taxes_id = False
        clients = env["res.partner"].create(
            [{"name": name, "company_id": company.id, **client_vals} for name in names]
        )
        last_month = (datetime.now().replace(day=1) - timedelta(days=20)).replace(
            hour=15, minute=0, second=0, microsecond=0
        )
        sessions = env["calendar.event"].create(
            [
                {
                    "name": f"{client.name} {week}",
                    "start": last_month + timedelta(days=week),
                    "stop": last_month + timedelta(days=week, minutes=53),
                    "partner_ids": [(6, 0, client.ids)],
                    "billing_client_id": client.id,
                    "billing_product_id": service.id,
                    "billing_company_id": company.id,
                }
                for client in clients
                for week in (0, 7)
            ]
        )
        return clients, sessions

    def _billing_lines(self, cr, session_ids):
        """(session id, line id, amount) of every non-cancelled line billing ``session_ids``."""
        cr.execute(
            """
            SELECT e.id, l.id, l.price_unit
              FROM calendar_event e
              JOIN account_move_line l ON l.id = e.billing_invoice_line_id
             WHERE e.id IN %s AND l.parent_state != 'cancel'
            """,
            [tuple(session_ids)],
        )
        return cr.fetchall()
