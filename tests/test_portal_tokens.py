from urllib.parse import urlparse

from odoo.tests import new_test_user, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import mute_logger

from odoo.addons.mail.tests.common import MockEmail

from .test_portal import PortalClientCase

# What a superbill's PDF says about Jane that nobody without her login may read.
CLINICAL = ("F41.1", "M-jane_portal", "1988", "Submit this document to your insurance company")
# Anything in a link that opens a document or an account without logging in.
BYPASSES = ("access_token", "auth_signup_token", "hash=", "pid=")


@tagged("-at_install", "post_install")
class TestSuperbillsOpenOnlyWithALogin(PortalClientCase, MockEmail):
    """A superbill is clinical: only its client, logged in, and staff open it; no token does."""

    def setUp(self):
        super().setUp()
        # A token emailed before superbills stopped having one (or forged into the database).
        self.jane_superbill.sudo().access_token = "token-sent-in-an-old-email"
        self.old_link = (
            f"/my/superbills/{self.jane_superbill.id}?access_token=token-sent-in-an-old-email"
        )

    def _assert_login_page(self, response, url):
        self.assertEqual(urlparse(response.url).path, "/web/login", url)
        for clinical in CLINICAL:
            self.assertNotIn(clinical, response.text, url)

    def test_logged_out_visitor_with_a_token_is_sent_to_log_in(self):
        for url in (self.old_link, f"{self.old_link}&report_type=pdf&download=true"):
            self._assert_login_page(self.url_open(url), url)
        # Once Jane logs in, the same link opens her superbill, token or not.
        self.authenticate("jane_portal", "jane_portal")
        page = self.url_open(self.old_link)
        self.assertEqual(page.status_code, 200)
        self.assertIn("Download PDF", page.text)
        self.assertNotIn("access_token", page.text, "links on the page carry no token")

    def test_mail_view_link_with_a_token_leads_to_the_login_page(self):
        url = (
            f"/mail/view?model=practice.superbill&res_id={self.jane_superbill.id}"
            "&access_token=token-sent-in-an-old-email"
        )
        self._assert_login_page(self.url_open(url), url)
        self.authenticate("jane_portal", "jane_portal")
        page = self.url_open(f"/mail/view?model=practice.superbill&res_id={self.jane_superbill.id}")
        self.assertEqual(urlparse(page.url).path, f"/my/superbills/{self.jane_superbill.id}")
        self.assertNotIn("access_token", page.url)
        self.assertIn("Download PDF", page.text)

    def test_portal_chatter_does_not_take_the_token(self):
        """Staff may post a superbill's PDF in its chatter: the chatter is clinical too."""
        pdf = self.env["ir.attachment"].create(
            {"name": "superbill.pdf", "raw": b"%PDF-1.4 F41.1", "mimetype": "application/pdf"}
        )
        self.jane_superbill.message_post(
            body="Your superbill, as you asked.",
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
            attachment_ids=pdf.ids,
        )
        params = {"thread_model": "practice.superbill", "thread_id": self.jane_superbill.id}
        with self.assertRaises(JsonRpcException) as refused, mute_logger("odoo.http"):
            self.make_jsonrpc_request(
                "/mail/chatter_fetch", {**params, "token": "token-sent-in-an-old-email"}
            )
        self.assertIn("Forbidden", str(refused.exception))
        # Jane, logged in, reads her own superbill's messages (her rights, no token).
        self.authenticate("jane_portal", "jane_portal")
        self.assertTrue(self.make_jsonrpc_request("/mail/chatter_fetch", params)["messages"])

    def test_replaced_superbill_is_never_served(self):
        old = self.jane_superbill
        new = self.env["practice.superbill"].browse(old.action_new_version()["res_id"])
        self.assertEqual((old.state, new.state), ("cancelled", "issued"))
        self._assert_login_page(self.url_open(self.old_link), self.old_link)
        new_test_user(
            self.env,
            login="billing_boss",
            groups="practice_billing.group_billing_manager",
            company_id=self.company.id,
        )
        for login in ("jane_portal", "billing_boss"):
            self.authenticate(login, login)
            for url in (f"/my/superbills/{old.id}", f"{self.old_link}&report_type=pdf"):
                self.assertEqual(self.url_open(url).status_code, 404, f"{login}: {url}")
            self.assertEqual(self.url_open(f"/my/superbills/{new.id}").status_code, 200, login)

    def test_portal_notice_links_to_the_page_without_a_token(self):
        self.jane_superbill.sudo().access_token = False
        self.jane_user.partner_id.billing_delivery_method = "portal"
        statement = self.env["practice.statement"].search(
            [("partner_id", "=", self.jane_user.partner_id.id)]
        )
        with self.mock_mail_gateway():
            self.jane_superbill._billing_deliver()
            statement._billing_deliver()
        [superbill_notice] = [m for m in self._mails if "superbill" in m["body"]]
        [statement_notice] = [m for m in self._mails if "statement" in m["body"]]
        self.assertIn(f"/my/superbills/{self.jane_superbill.id}", superbill_notice["body"])
        for bypass in BYPASSES:
            self.assertNotIn(bypass, superbill_notice["body"])
        for clinical in CLINICAL:
            self.assertNotIn(clinical, superbill_notice["body"])
        self.assertFalse(self.jane_superbill.access_token)
        # Statements hold no clinical data: their link still opens without a login.
        self.assertIn(f"/my/statements/{statement.id}?access_token=", statement_notice["body"])

    def test_no_way_to_make_a_token_for_a_superbill(self):
        superbill = self.jane_superbill
        superbill.sudo().access_token = False
        client = self.jane_user.partner_id
        links = [
            superbill.get_portal_url(),
            superbill.get_portal_url(report_type="pdf", download=True),
            superbill._get_share_url(),
            superbill._get_share_url(redirect=True, signup_partner=True, pid=client.id),
            superbill._get_access_action(access_uid=self.jane_user.id)["url"],
        ]
        self.assertEqual(links[0], f"/my/superbills/{superbill.id}")
        self.assertEqual(links[1], f"/my/superbills/{superbill.id}?report_type=pdf&download=true")
        for link in links:
            for bypass in BYPASSES:
                self.assertNotIn(bypass, link)
        self.assertFalse(superbill._portal_ensure_token())
        self.assertFalse(superbill.access_token)
        statement = self.env["practice.statement"].search([("partner_id", "=", client.id)])
        self.assertIn("access_token=", statement.get_portal_url())
