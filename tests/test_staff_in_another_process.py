import json
import os
import select
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from unittest.mock import patch

import odoo
from odoo.tests import get_db_name, tagged

from odoo.addons.practice_billing.models.practice_billing_run import PracticeBillingRun

from .common import ConcurrencyCase

STAFF_PROCESS = os.path.join(os.path.dirname(__file__), "staff_process.py")
# Seconds the staff process may take to answer (its registry loads in a few).
ANSWER_TIMEOUT = 120


@tagged("-at_install", "post_install")
class TestStaffInAnotherProcess(ConcurrencyCase):
    """Issue #15 with two OS processes, as two Odoo workers: the scheduled run bills the
    month in this process, as its job calls it, and stops in the middle of its first batch
    (invoices made and handed to Odoo's sending, not committed) while a staff member works
    in another process (tests/staff_process.py): Invoice now on a client the run holds and
    on one it has not taken yet, a print and an export in Billing Documents."""

    def setUp(self):
        super().setUp()
        # The other process loads Odoo while this one commits the practice.
        self.staff = self._start_staff_process()
        for attribute, value in (("_can_commit", lambda self: True), ("BATCH_SIZE", 2)):
            patcher = patch.object(PracticeBillingRun, attribute, value)
            patcher.start()
            self.addCleanup(patcher.stop)
        with self.registry.cursor() as cr:
            company = self._commit_practice(cr, "Two Workers", billing_auto_invoice=True)
            self.company_id = company.id
            clients, sessions = self._commit_clients_with_sessions(
                company.with_env(self._env(cr)),
                [f"Two {i}" for i in range(5)],
                billing_delivery_method="email",
            )
            for client in clients:
                client.email = f"{client.name.replace(' ', '').lower()}@example.com"
            self.clients, self.session_ids = {c.name: c.id for c in clients}, sessions.ids
            # Two 4 was invoiced earlier today, to be printed: staff print and export it.
            clients[-1].billing_delivery_method = "manual"
        with self.registry.cursor() as cr:
            env = self._env(cr, self.admin_id)
            env["res.partner"].browse(self.clients["Two 4"]).action_billing_invoice_now()
            self.earlier_invoice_id = (
                env["account.move"].search([("partner_id", "=", self.clients["Two 4"])]).id
            )
        self.assertEqual(self._answer(), {"ready": True})

    # ------------------------------------------------------------------ the other process
    def _odoo_options(self):
        """This process's Odoo options, for the other one to open the same database."""
        config = odoo.tools.config
        options = ["-c", config.rcfile] if config.rcfile else []
        options.append(f"--addons-path={config['addons_path']}")
        options.append(f"--data-dir={config['data_dir']}")
        for option in ("db_host", "db_port", "db_user", "db_password"):
            if config[option]:
                options.append(f"--{option}={config[option]}")
        return options

    def _start_staff_process(self):
        log = tempfile.TemporaryFile()
        self.addCleanup(log.close)
        self.staff_log = log
        odoo_root = os.path.dirname(os.path.dirname(odoo.__file__))
        pythonpath = os.pathsep.join(filter(None, [odoo_root, os.environ.get("PYTHONPATH")]))
        process = subprocess.Popen(
            [
                sys.executable,
                STAFF_PROCESS,
                get_db_name(),
                # wkhtmltopdf there loads report styles from this process's HTTP server.
                f"http://127.0.0.1:{odoo.tools.config['http_port']}",
                *self._odoo_options(),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            bufsize=0,  # unbuffered: select() sees every line the process wrote
            env=dict(os.environ, PYTHONPATH=pythonpath),
        )
        self.addCleanup(self._stop_staff_process, process)
        return process

    def _stop_staff_process(self, process):
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()

    def _ask(self, step, *args):
        """Send staff's request ``step`` to the other process; return its backend pid."""
        self.staff.stdin.write(
            json.dumps({"step": step, "args": args, "company_id": self.company_id}).encode() + b"\n"
        )
        return self._answer()["pid"]

    def _answer(self):
        """The other process's next line (JSON), within ANSWER_TIMEOUT seconds."""
        ready, _, _ = select.select([self.staff.stdout], [], [], ANSWER_TIMEOUT)
        line = self.staff.stdout.readline() if ready else b""
        if not line:
            self.staff_log.seek(0)
            self.fail(f"the staff process did not answer:\n{self.staff_log.read().decode()}")
        return json.loads(line)

    def _done(self, step, *args):
        """``step`` done by staff in the other process; returns its answer."""
        self._ask(step, *args)
        return self._answer()

    def _wait_until_waiting_for_a_lock(self, pid):
        """Until the other process's connection ``pid`` waits for a lock (the run's)."""
        deadline = time.monotonic() + ANSWER_TIMEOUT
        with self.registry.cursor() as cr:
            while time.monotonic() < deadline:
                cr.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                if cr.fetchone()[0] == "Lock":
                    return
                cr.rollback()
                time.sleep(0.05)  # polling what PostgreSQL reports, not waiting for luck
        self.fail("Invoice now in the other process never reached the run's lock")

    # ------------------------------------------------------------------ the run
    def _run_with_staff_mid_batch(self, staff_work):
        """The scheduled run of the practice, as its job calls it; ``staff_work()`` is done
        while the run holds its first batch (locked, invoiced, handed to sending, not
        committed). Returns (the run, what staff_work returned)."""
        deliver, during = PracticeBillingRun._deliver_invoices, []

        def deliver_then_let_staff_work(run, invoices):
            deliver(run, invoices)
            if not during:
                during.append(staff_work())

        with patch.object(PracticeBillingRun, "_deliver_invoices", deliver_then_let_staff_work):
            with self.registry.cursor() as cr:
                env = self._env(cr)
                company = env["res.company"].browse(self.company_id)
                # As _cron_billing_run calls it for each automatic practice.
                run = (
                    env["practice.billing.run"]
                    .sudo()
                    .with_company(company)
                    ._run_due_period(company, datetime.now())
                )
                run_id = run.id
        self.assertEqual(len(during), 1, "staff worked while the run held its first batch")
        return run_id, during[0]

    def _staff_mid_batch(self):
        answers = {
            # The run holds Two 0: a clear message, never a database error.
            "held": self._done("invoice_now", [self.clients["Two 0"]]),
            # What was billed before the run prints and exports, not held up by the run.
            "print": self._done("print", self.earlier_invoice_id),
            "export": self._done("export", self.clients["Two 4"]),
        }
        # Two 2 is in the run's next batch: Invoice now bills them. It waits for the
        # invoice number (Odoo's sequence lock) until the run commits this batch.
        self._wait_until_waiting_for_a_lock(self._ask("invoice_now", [self.clients["Two 2"]]))
        return answers

    def test_invoice_now_print_and_export_in_another_process_during_the_run(self):
        run_id, answers = self._run_with_staff_mid_batch(self._staff_mid_batch)
        free = self._answer()

        held = answers["held"]
        self.assertEqual(held["error"], "UserError", held)
        self.assertTrue(held["message"].startswith("Billing is in progress for Two 0:"), held)
        self.assertEqual(answers["print"]["result"], {"kind": "pdf", "is_pdf": True})
        self.assertEqual(len(answers["export"]["result"]), 1)
        self.assertTrue(all(answers["export"]["result"].values()), "a PDF in the ZIP")
        self.assertIn("result", free, free)
        self.assertEqual(list(free["result"]["invoices"]), ["Two 2"])
        self.assertIsNone(free["result"]["notice"])
        with self.registry.cursor() as cr:
            env = self._env(cr)
            run = env["practice.billing.run"].browse(run_id)
            self.assertEqual(run.state, "done")
            self.assertEqual(
                sorted(run.invoice_ids.partner_id.mapped("name")), ["Two 0", "Two 1", "Two 3"]
            )
            # Each session on exactly one invoice line, each client on one invoice.
            rows = self._billing_lines(cr, self.session_ids)
            self.assertEqual(sorted(r[0] for r in rows), sorted(self.session_ids))
            self.assertEqual(len({r[1] for r in rows}), len(self.session_ids), "a line each")
            invoices = env["account.move"].search([("company_id", "=", self.company_id)])
            self.assertEqual(
                sorted(invoices.partner_id.mapped("name")), sorted(self.clients), "one each"
            )
            self.assertEqual(set(invoices.mapped("amount_total")), {300.0})
            # Handed to Odoo's sending once each (staff's and the run's alike).
            emailed = invoices.filtered(lambda m: m.partner_id.name != "Two 4")
            self.assertEqual(set(emailed.mapped("billing_delivery_state")), {"pending"})
            self.assertEqual(set(emailed.mapped("billing_delivery_attempts")), {1})
            self.assertTrue(all(emailed.mapped("sending_data")))
            cr.execute(
                "SELECT trigger, state FROM practice_billing_run WHERE company_id = %s ORDER BY id",
                [self.company_id],
            )
            # The earlier Invoice now, the run, staff's Invoice now of Two 2: the refused
            # click left no run.
            self.assertEqual(
                cr.fetchall(), [("manual", "done"), ("cron", "done"), ("manual", "done")]
            )
