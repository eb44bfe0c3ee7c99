import io
import json
import zipfile
from datetime import datetime
from unittest.mock import patch

from freezegun import freeze_time

from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from odoo.addons.bus.models.bus import channel_with_db, json_dump
from odoo.addons.mail.tests.common import MockEmail

from .common import PracticeBillingCase, PracticeHttpCase

NOVEMBER_BILLED = datetime(2026, 11, 1, 4, 0)


def notifications(env, partner):
    """[(type, payload)] of the bus notifications sent to ``partner``, oldest first."""
    env.cr.precommit.run()  # notifications wait for the commit: make them now
    channel = json_dump(channel_with_db(env.cr.dbname, partner))
    sent = env["bus.bus"].sudo().search([("channel", "=", channel)], order="id")
    return [
        (message["type"], message["payload"])
        for message in (json.loads(notification.message) for notification in sent)
    ]


class BackgroundCase(PracticeBillingCase, MockEmail):
    """Runs of more than one client go to the background (the threshold is a setting)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()
        cls.company.write({"billing_auto_invoice": True, "billing_last_cutoff": NOVEMBER_BILLED})
        cls.env["ir.config_parameter"].set_param("practice_billing.background_clients", "1")
        cls.Run = cls.env["practice.billing.run"]
        cls.cron = cls.env.ref("practice_billing.ir_cron_billing_background_runs")

    def _november(self):
        sessions = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        sessions |= self._create_session(self.client_jane, "2026-11-09 15:00:00")
        return sessions | self._create_session(self.client_marcus, "2026-11-03 15:00:00")

    def _triggered(self):
        return self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.cron.id)])

    def _work_in_background(self, utc_now="2026-11-27 12:00:30"):
        with freeze_time(utc_now), self.mock_mail_gateway():
            self.Run._cron_run_in_background()

    def _bill_now_as(self, user, utc_now="2026-11-27 12:00:00"):
        with freeze_time(utc_now):
            preview = self.env["practice.billing.preview"].with_user(user)._create_for_next_run()
            action = preview.action_bill_now()
        return preview, self.Run.browse(action["res_id"])


@tagged("-at_install", "post_install")
class TestBackgroundRuns(BackgroundCase):
    def test_bill_now_of_many_clients_runs_in_the_background_and_tells_who_asked(self):
        sessions = self._november()
        triggered = self._triggered()
        preview, run = self._bill_now_as(self.billing_manager)
        self.assertEqual((run.state, run.in_background), ("queued", True))
        self.assertEqual(run.user_id, self.billing_manager)
        self.assertEqual(self._triggered(), triggered + 1, "the background job is woken up")
        self.assertFalse(sessions.billing_invoice_line_id, "nothing billed in the request")
        # A second click while it waits opens the same run.
        self.assertEqual(preview.action_bill_now()["res_id"], run.id)
        self._work_in_background()
        self.assertEqual(run.state, "done")
        self.assertEqual(run.invoice_count, 2)
        self.assertEqual((run.progress_done, run.progress_total, run.progress), (2, 2, 100.0))
        self._assert_billed_once(sessions)
        [(kind, payload)] = notifications(self.env, self.billing_manager.partner_id)
        self.assertEqual(kind, "account_notification")
        self.assertEqual(payload["type"], "success")
        self.assertEqual(payload["action_button"]["res_ids"], run.ids)
        self.assertEqual(payload["message"], "Invoices: 2 ($\xa0450.00).")
        # Nothing left to do: another call changes nothing.
        self._work_in_background()
        self._assert_billed_once(sessions)

    def test_few_clients_are_billed_at_once(self):
        self.env["ir.config_parameter"].set_param("practice_billing.background_clients", "50")
        sessions = self._november()
        triggered = self._triggered()
        _preview, run = self._bill_now_as(self.billing_manager)
        self.assertEqual((run.state, run.in_background), ("done", False))
        self.assertEqual(self._triggered(), triggered)
        self._assert_billed_once(sessions)

    def test_invoice_now_on_many_clients_goes_to_the_background(self):
        sessions = self._november()
        clients = (self.client_jane | self.client_marcus).with_user(self.billing_user)
        with freeze_time("2026-11-27 12:00:00"):
            action = clients.action_billing_invoice_now()
        run = self.Run.browse(action["res_id"])
        self.assertEqual(run.state, "queued")
        self._work_in_background()
        self.assertEqual(run.state, "done")
        self._assert_billed_once(sessions)

    def test_generate_in_the_background_makes_superbills_as_the_manager(self):
        self._record_provider_identifiers()
        self._record_insurance(self.client_jane)
        self._november()
        with freeze_time("2026-12-05 12:00:00"):
            wizard = (
                self.env["practice.billing.generate"]
                .with_user(self.billing_manager)
                .create(
                    {
                        "date_from": "2026-11-01",
                        "date_until": "2026-11-30",
                        "invoice_date": "2026-11-30",
                        "generate_superbills": True,
                        "generate_statements": True,
                    }
                )
            )
            self.assertEqual(
                (wizard.invoice_count, wizard.superbill_count, wizard.statement_count), (2, 1, 2)
            )
            run = self.Run.browse(wizard.action_generate()["res_id"])
        self.assertEqual(run.state, "queued")
        self._work_in_background("2026-12-05 12:00:30")
        self.assertEqual(run.state, "done")
        self.assertEqual((run.invoice_count, run.superbill_count, run.statement_count), (2, 1, 2))
        self.assertEqual(run.superbill_ids.create_uid, self.billing_manager)
        self.assertEqual(run.superbill_ids.state, "issued")
        [(_kind, payload)] = notifications(self.env, self.billing_manager.partner_id)
        self.assertEqual(
            payload["message"], "Invoices: 2 ($\xa0450.00), superbills: 1, statements: 2."
        )

    def test_requester_who_lost_manager_rights_gets_no_superbills(self):
        """The background run makes superbills with its requester's access as it is then."""
        self._record_provider_identifiers()
        self._record_insurance(self.client_jane)
        self._november()
        with freeze_time("2026-12-05 12:00:00"):
            wizard = (
                self.env["practice.billing.generate"]
                .with_user(self.billing_manager)
                .create({"generate_superbills": True, "generate_invoices": True})
            )
            run = self.Run.browse(wizard.action_generate()["res_id"])
        self.billing_manager.groups_id -= self.env.ref("practice_billing.group_billing_manager")
        self._work_in_background("2026-12-05 12:00:30")
        self.assertEqual(run.state, "failed")
        self.assertIn("Superbill", run.error)
        self.assertFalse(self.env["practice.superbill"].search([]))
        [(_kind, payload)] = notifications(self.env, self.billing_manager.partner_id)
        self.assertEqual(payload["type"], "danger")

    def test_a_failing_run_does_not_stop_the_next(self):
        self.env["ir.config_parameter"].set_param("practice_billing.background_clients", "0")
        self._november()
        with freeze_time("2026-11-27 12:00:00"):
            first = self.Run.with_user(self.billing_user)._run_now(
                "manual", fields.Datetime.now(), datetime(2026, 11, 27).date(), self.client_jane
            )
            second = self.Run._run_now("manual", fields.Datetime.now(), datetime.now().date())
        self.assertEqual((first.state, second.state), ("queued", "queued"))
        original = type(self.Run)._bill_due_sessions

        def explode_for_the_first(run):
            if run == first:
                raise ValueError("disk on fire")
            return original(run)

        with patch.object(type(self.Run), "_bill_due_sessions", explode_for_the_first):
            self._work_in_background()
            self._work_in_background()
        self.assertEqual(first.state, "failed")
        self.assertIn("disk on fire", first.error)
        self.assertEqual(second.state, "done")
        self.assertEqual(second.client_count, 2, "it billed Jane too: the first billed nothing")
        [(_kind, payload)] = notifications(self.env, self.billing_user.partner_id)
        self.assertEqual(payload["type"], "danger")
        self.assertIn("disk on fire", payload["message"])

    def test_a_stopped_background_run_resumes_then_is_given_up(self):
        sessions = self._november()
        _preview, run = self._bill_now_as(self.billing_manager)
        # A worker was killed while it billed.
        run.write({"state": "running", "attempt_count": 1})
        self._work_in_background()
        self.assertEqual(run.state, "done")
        self._assert_billed_once(sessions)
        stuck = self.Run.create(
            {
                "trigger": "manual",
                "cutoff": "2026-11-27 12:00:00",
                "invoice_date": "2026-11-27",
                "state": "running",
                "in_background": True,
                "attempt_count": 3,
                "user_id": self.billing_manager.id,
            }
        )
        self._work_in_background()
        self.assertEqual(stuck.state, "failed")
        self.assertIn("stopped 3 times", stuck.error)

    def test_an_interrupted_run_reads_failed_not_running(self):
        Run = self.Run
        vals = {"trigger": "manual", "cutoff": "2026-11-27 12:00:00", "invoice_date": "2026-11-27"}
        stale, busy = Run.create([{**vals, "state": "running"}, {**vals, "state": "running"}])
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE practice_billing_run SET write_date = write_date - interval '3 hours' "
            "WHERE id = %s",
            [stale.id],
        )
        Run.invalidate_model()
        Run._fail_interrupted_runs(fields.Datetime.now())
        self.assertEqual(stale.state, "failed")
        self.assertIn("Interrupted", stale.error)
        self.assertEqual(busy.state, "running", "a run making progress is left alone")

    def test_the_job_leaves_a_period_run_waiting_in_the_background(self):
        """Bill now of a period that has ended, queued: the scheduled job does not start a
        second run of that period; the queued one marks it done."""
        self.company.billing_last_cutoff = False
        sessions = self._create_session(self.client_jane, "2026-10-20 15:00:00")
        sessions |= self._create_session(self.client_marcus, "2026-10-21 15:00:00")
        _preview, run = self._bill_now_as(self.billing_manager, "2026-11-01 04:30:00")
        self.assertEqual((run.state, run.closes_period), ("queued", True))
        with self.mock_mail_gateway():
            self.assertFalse(self._cron("2026-11-01 05:00:00"))
        self._work_in_background("2026-11-01 05:00:30")
        self.assertEqual(run.state, "done")
        self._assert_billed_once(sessions)
        self.assertEqual(self.company.billing_last_cutoff, datetime(2026, 11, 1, 4, 0))


@tagged("-at_install", "post_install")
class TestBackgroundExport(PracticeHttpCase):
    """Billing Documents exports of many documents, prepared part by part in the
    background as the staff member who asked (real PDFs)."""

    def setUp(self):
        super().setUp()
        self._record_provider_identifiers()
        self._record_insurance(self._client_with_sessions("Jane Doe", "jane@example.com", "manual"))
        self._client_with_sessions("Marcus Webb", "marcus@example.com", "manual")
        self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        self.env["ir.config_parameter"].set_param("practice_billing.background_documents", "1")
        practice = {"company_id": self.company.id, "company_ids": [Command.set(self.company.ids)]}
        manager = "practice_billing.group_billing_manager"
        self.manager = new_test_user(self.env, login="ruth", groups=manager, **practice)
        self.other_manager = new_test_user(self.env, login="omar", groups=manager, **practice)
        self.front_desk = new_test_user(
            self.env, login="fran", groups="practice_billing.group_billing_user", **practice
        )
        self.Export = self.env["practice.billing.export"]

    def _documents(self, user):
        return (
            self.env["practice.billing.document"]
            .with_user(user)
            .search([("company_id", "=", self.company.id)], order="document_type desc, name")
        )

    def _prepare(self, export):
        with patch.object(type(self.Export), "PART_SIZE", 2):
            for _call in range(10):
                if export.state not in ("queued", "running"):
                    break
                self.Export._cron_prepare_exports()
                export.invalidate_recordset()
        return export

    def test_many_documents_are_exported_in_the_background_for_the_requester_only(self):
        documents = self._documents(self.manager)
        self.assertEqual(len(documents), 5)
        action = documents.action_export_pdf()
        self.assertEqual(
            (action["res_model"], action["target"]), ("practice.billing.export", "new")
        )
        export = self.Export.with_user(self.manager).browse(action["res_id"])
        self.assertEqual((export.state, export.document_count), ("queued", 5))
        self._prepare(export)
        self.assertEqual((export.state, export.progress), ("done", 100.0))
        pdf = export.attachment_id.raw
        text, _fonts = self._pdf_text(pdf, "background-export.pdf")
        position = 0
        for document in documents:
            marker = {"superbill": "Superbill", "statement": "Statement of account"}.get(
                document.document_type, document.name
            )
            position = text.find(marker, position)
            self.assertGreaterEqual(position, 0, f"{document.name} missing or out of order")
            position += 1
        self.assertFalse(export._parts(), "the parts are gone once the file is made")
        [(_kind, payload)] = notifications(self.env, self.manager.partner_id)
        self.assertEqual(payload["type"], "success")
        self.assertEqual(payload["action_button"]["res_ids"], export.ids)
        # Only the requester sees it and downloads it.
        self.assertEqual(
            export.action_download()["url"].split("?")[0].split("/")[-1],
            str(export.attachment_id.id),
        )
        for intruder in (self.other_manager, self.env.ref("base.user_admin")):
            with self.assertRaises(AccessError):
                export.with_user(intruder).read(["name"])
            with self.assertRaises(AccessError):
                export.attachment_id.with_user(intruder).read(["raw"])
        url = f"/web/content/{export.attachment_id.id}?download=true"
        self.authenticate("omar", "omar")
        self.assertNotEqual(self.url_open(url).status_code, 200)
        self.authenticate("ruth", "ruth")
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, pdf)

    def test_zip_in_the_background(self):
        documents = self._documents(self.manager)
        action = documents.action_download_zip()
        export = self._prepare(self.Export.with_user(self.manager).browse(action["res_id"]))
        with zipfile.ZipFile(io.BytesIO(export.attachment_id.raw)) as archive:
            self.assertEqual(archive.namelist(), [d._zip_name() for d in documents])
            self.assertTrue(all(archive.read(n).startswith(b"%PDF") for n in archive.namelist()))

    def test_an_export_holds_only_what_its_requester_may_export(self):
        # Front desk staff may not export superbills (they carry diagnoses).
        with self.assertRaises(AccessError):
            self._documents(self.manager).with_user(self.front_desk).action_export_pdf()
        # They may export invoices and statements; losing billing access before the job
        # runs fails the export, with nothing made.
        documents = self._documents(self.front_desk)
        self.assertEqual(sorted(set(documents.mapped("document_type"))), ["invoice", "statement"])
        action = documents.action_export_pdf()
        export = self.Export.browse(action["res_id"])
        self.front_desk.groups_id -= self.env.ref("practice_billing.group_billing_user")
        self._prepare(export)
        self.assertEqual(export.state, "failed")
        self.assertFalse(export.attachment_id)
        self.assertFalse(export._parts())
        [(_kind, payload)] = notifications(self.env, self.front_desk.partner_id)
        self.assertEqual(payload["type"], "danger")

    def test_few_documents_are_exported_at_once(self):
        self.env["ir.config_parameter"].set_param("practice_billing.background_documents", "100")
        action = self._documents(self.manager).action_export_pdf()
        self.assertEqual(action["type"], "ir.actions.act_url")
