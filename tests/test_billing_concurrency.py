import threading
from datetime import datetime

from odoo import SUPERUSER_ID
from odoo.service.model import retrying
from odoo.tests import tagged

from .common import ConcurrencyCase


@tagged("-at_install", "post_install")
class TestConcurrentRuns(ConcurrencyCase):
    """Real, committed transactions racing to bill the same clients (see ConcurrencyCase)."""

    CLIENTS = 12

    def setUp(self):
        super().setUp()
        with self.registry.cursor() as cr:
            company = self._commit_practice(cr, "Race Practice", billing_auto_invoice=True)
            self.company_id = company.id
            clients, sessions = self._commit_clients_with_sessions(
                company.with_env(self._env(cr)), [f"Racer {i:02d}" for i in range(self.CLIENTS)]
            )
            self.client_ids, self.session_ids = clients.ids, sessions.ids

    def _in_thread(self, work, barrier, errors, uid=SUPERUSER_ID):
        def target():
            try:
                with self.registry.cursor() as cr:
                    env = self._env(cr, uid)(
                        context={"allowed_company_ids": [self.company_id]}, su=False
                    )
                    barrier.wait(timeout=60)
                    work(env)
            except Exception as error:  # reported by the test
                errors.append(error)

        return threading.Thread(target=target)

    def _bill_leftovers_and_check(self):
        with self.registry.cursor() as cr:
            env = self._env(cr, self.admin_id)
            env = env(context=dict(env.context, allowed_company_ids=[self.company_id]))
            env["res.partner"].browse(self.client_ids).action_billing_invoice_now()
        with self.registry.cursor() as cr:
            rows = self._billing_lines(cr, self.session_ids)
            self.assertEqual(sorted(r[0] for r in rows), sorted(self.session_ids))
            self.assertEqual(len({r[1] for r in rows}), len(self.session_ids), "a line each")
            self.assertEqual(sum(r[2] for r in rows), 150.0 * len(self.session_ids))
            cr.execute(
                """
                SELECT m.partner_id, m.amount_total, count(l.id)
                  FROM account_move m JOIN account_move_line l ON l.move_id = m.id
                 WHERE m.partner_id IN %s AND m.state != 'cancel' AND l.display_type = 'product'
                 GROUP BY m.id
                """,
                [tuple(self.client_ids)],
            )
            for _partner, total, lines in cr.fetchall():
                self.assertEqual(total, 150.0 * lines, "an invoice bills what its lines say")

    def test_cron_and_invoice_now_racing_bill_each_session_once(self):
        barrier, errors = threading.Barrier(2), []
        admin = self.admin_id

        def cron(env):
            company = env["res.company"].browse(self.company_id)
            env["practice.billing.run"].sudo()._run_due_period(company, datetime.now())

        def staff(env):
            env["res.partner"].browse(self.client_ids).action_billing_invoice_now()

        threads = [
            self._in_thread(cron, barrier, errors),
            self._in_thread(staff, barrier, errors, uid=admin),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        self.assertFalse([t for t in threads if t.is_alive()], "no run is stuck on a lock")
        # A run may lose the race as a whole (its transaction is rolled back), never bill twice.
        with self.registry.cursor() as cr:
            rows = self._billing_lines(cr, self.session_ids)
            billed = [r[0] for r in rows]
            self.assertEqual(len(billed), len(set(billed)))
            self.assertTrue(billed, f"the race billed nothing at all: {errors}")
            cr.execute(
                "SELECT trigger FROM practice_billing_run WHERE company_id = %s ORDER BY trigger",
                [self.company_id],
            )
            triggers = [r[0] for r in cr.fetchall()]
        # Staff who find every session held by the scheduled run are told billing is in
        # progress (their run is not made); otherwise both runs are recorded.
        refused = [e for e in errors if "Billing is in progress for" in str(e)]
        self.assertEqual(errors, refused)
        self.assertEqual(triggers, ["cron"] if refused else ["cron", "manual"], errors)
        self._bill_leftovers_and_check()

    def test_a_client_locked_by_another_run_is_skipped_not_waited_for(self):
        first_client_sessions = tuple(self.session_ids[:2])
        with self.registry.cursor() as holder:
            # Another worker is in the middle of billing the first client.
            holder.execute(
                "SELECT id FROM calendar_event WHERE id IN %s FOR UPDATE", [first_client_sessions]
            )
            with self.registry.cursor() as cr:
                cr.execute("SET LOCAL lock_timeout = '5s'")
                env = self._env(cr, self.admin_id)
                env = env(context=dict(env.context, allowed_company_ids=[self.company_id]))
                clients = env["res.partner"].browse(self.client_ids)
                action = clients.action_billing_invoice_now()
                # Staff are told whom the other run is billing, then see their run.
                self.assertEqual(action["tag"], "display_notification")
                self.assertIn("Billing is in progress for Racer 00", action["params"]["message"])
                run = env["practice.billing.run"].browse(action["params"]["next"]["res_id"])
                self.assertEqual(run.client_count, self.CLIENTS - 1)
                self.assertEqual(run.session_count, 2 * (self.CLIENTS - 1))
                self.assertNotIn(self.client_ids[0], run.invoice_ids.partner_id.ids)
            holder.rollback()
        self._bill_leftovers_and_check()

    def _preview(self):
        """A Next Run page an administrator opened (committed, as a browser's would be)."""
        with self.registry.cursor() as cr:
            env = self._env(cr, self.admin_id)
            env = env(context=dict(env.context, allowed_company_ids=[self.company_id]))
            return env["practice.billing.preview"]._create_for_next_run().id

    def test_bill_now_during_the_scheduled_run_bills_each_session_once(self):
        preview_id = self._preview()
        barrier, errors = threading.Barrier(2), []

        def cron(env):
            company = env["res.company"].browse(self.company_id)
            env["practice.billing.run"].sudo()._run_due_period(company, datetime.now())

        def bill_now(env):
            env["practice.billing.preview"].browse(preview_id).action_bill_now()

        threads = [
            self._in_thread(cron, barrier, errors),
            self._in_thread(bill_now, barrier, errors, uid=self.admin_id),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        self.assertFalse([t for t in threads if t.is_alive()], "no run is stuck on a lock")
        with self.registry.cursor() as cr:
            billed = [row[0] for row in self._billing_lines(cr, self.session_ids)]
            self.assertEqual(len(billed), len(set(billed)), "no session billed twice")
            self.assertTrue(billed, f"the race billed nothing at all: {errors}")
        self._bill_leftovers_and_check()

    def test_two_clicks_on_bill_now_start_one_run(self):
        """Two requests of one Next Run page at once (a double click): the second waits for
        the first, is retried as Odoo retries a request, and opens the first one's run."""
        preview_id = self._preview()
        barrier, errors, opened = threading.Barrier(2), [], []

        def click(env):
            preview = env["practice.billing.preview"].browse(preview_id)
            opened.append(retrying(lambda: preview.action_bill_now()["res_id"], env))

        threads = [self._in_thread(click, barrier, errors, uid=self.admin_id) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        self.assertFalse(errors)
        self.assertEqual(len(opened), 2)
        self.assertEqual(opened[0], opened[1], "both clicks open the same run")
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM practice_billing_run WHERE company_id = %s",
                [self.company_id],
            )
            self.assertEqual(cr.fetchone()[0], 1)
            rows = self._billing_lines(cr, self.session_ids)
            self.assertEqual(sorted(r[0] for r in rows), sorted(self.session_ids))
            self.assertEqual(len({r[1] for r in rows}), len(self.session_ids))
