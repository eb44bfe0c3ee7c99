from datetime import datetime, timedelta

from odoo.tests import HttpCase, tagged

from .common import read_addon_manifests_now


@tagged("-at_install", "post_install")
class TestSessionsUi(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        read_addon_manifests_now()

    def _session(self, client_name, start):
        client = self.env["res.partner"].create({"name": client_name})
        service = self.env["product.product"].create(
            {"name": "Psychotherapy, 53 min", "type": "service", "list_price": 150.0}
        )
        return (
            self.env["calendar.event"]
            .with_context(no_mail_to_attendees=True)
            .create(
                {
                    "name": f"{client_name} session",
                    "start": start,
                    "stop": start + timedelta(minutes=53),
                    "partner_ids": [(6, 0, client.ids)],
                    "billing_product_id": service.id,
                }
            )
        )

    def test_staff_find_uninvoiced_sessions(self):
        now = datetime.now().replace(microsecond=0)
        self._session("Tour Client", now - timedelta(days=3))
        self._session("Future Client", now + timedelta(days=3))
        self.start_tour(
            "/odoo/action-practice_billing.action_billing_sessions",
            "practice_billing_sessions_tour",
            login="admin",
        )
