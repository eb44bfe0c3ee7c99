"""AutoPay fixtures: Odoo's demo payment provider (its tokens simulate the card processor's
answer: done, pending, cancel, error) for a practice, and clients enrolled with a card."""

import base64

from odoo import Command


class AutopayFixtures:
    @classmethod
    def _demo_provider(cls, env, company):
        """Odoo's demo provider in ``company``, in test mode (as payment's own tests do:
        PaymentCommon._prepare_provider), paying into the company's bank journal."""
        Provider = env["payment.provider"].sudo()
        provider = Provider.search([("code", "=", "demo"), ("company_id", "=", company.id)])
        if not provider:
            provider = Provider.search([("code", "=", "demo")], limit=1).copy(
                {"company_id": company.id}
            )
        bank = env["account.journal"].search(
            [("company_id", "=", company.id), ("type", "=", "bank")], limit=1
        )
        provider.write({"state": "test", "journal_id": bank.id})
        return provider

    @classmethod
    def _enroll(cls, env, client, provider, simulated_state="done", **vals):
        """Enroll ``client`` in AutoPay with a saved demo card ending 4242 whose charges
        end in ``simulated_state``; returns the card."""
        token = (
            env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": provider.id,
                    "payment_method_id": provider.payment_method_ids[:1].id,
                    "payment_details": "4242",
                    "partner_id": client.id,
                    "provider_ref": f"demo-card-{client.id}",
                    "demo_simulated_state": simulated_state,
                }
            )
        )
        # Through the enrollment staff make with a signed form (the one way in).
        client = client.with_env(env)
        company = provider.company_id
        enabled = company.billing_autopay_enabled
        company.billing_autopay_enabled = True
        client._billing_autopay_enroll(
            token,
            "staff",
            limit=vals.pop("billing_autopay_limit", 0.0),
            hsa=vals.pop("billing_autopay_hsa", False),
            signed_form=("autopay-form.pdf", base64.b64encode(b"%PDF-1.4 signed")),
        )
        company.billing_autopay_enabled = enabled
        if vals:
            client.sudo().write(vals)
        return token

    @classmethod
    def _post_invoice(cls, env, client, amounts, company=None, **vals):
        """A posted invoice of ``client`` with one line per amount (no taxes)."""
        invoice = env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": client.id,
                "company_id": (company or env.company).id,
                "invoice_line_ids": [
                    Command.create({"name": "Session", "price_unit": amount, "tax_ids": []})
                    for amount in amounts
                ],
                **vals,
            }
        )
        invoice.action_post()
        return invoice
