"""Benchmark: AutoPay charging N invoices against paying them one by one in Odoo.

Run through ``./dev.sh bench-autopay [N]`` (a fresh database with practice_billing and Odoo's
demo payment provider, whose saved cards answer "done" at once). For N clients, each with one
posted $300 invoice and a saved card, it times in one process:

- autopay: the daily job (``account.move._cron_billing_autopay``) charging every due invoice,
  50 at a time: lock, re-check, one offline transaction per invoice, all committed before the
  provider is asked, each answer committed as it comes, Odoo's post-processing (payments
  created, posted, reconciled) for the batch, committed together;
- loop:    plain Odoo, a staff member paying each invoice with the client's saved card through
  Odoo's payment registration (``account.payment.register`` with ``payment_token_id``, as
  Register Payment does), committing after each.

Both charge the same cards through the same provider and end with the same payments. Receipts
are printed apart, by their own job, and are part of neither figure (``--receipts`` times
that job too; it prints PDFs with wkhtmltopdf, slowly without a server at ``report.url``).
"""

import argparse
import base64
import time

# The same measurement as the run benchmark (commit, cold cache, queries counted).
from monthly_run import measure

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tools import config

CONTEXT = {"tracking_disable": True, "mail_notify_force_send": False}


def setup_practice(env, n):
    """2N clients enrolled in AutoPay with a demo card, each with one posted invoice."""
    company = env.company
    company.write({"billing_autopay_enabled": False, "billing_autopay_notice_days": 0})
    company.partner_id.tz = "America/New_York"
    provider = env.ref("payment.payment_provider_demo")
    bank = env["account.journal"].search(
        [("company_id", "=", company.id), ("type", "=", "bank")], limit=1
    )
    provider.write({"state": "test", "journal_id": bank.id})
    clients = env["res.partner"].create(
        [{"name": f"Client {i:05d}", "email": f"client{i:05d}@example.com"} for i in range(2 * n)]
    )
    tokens = env["payment.token"].create(
        [
            {
                "provider_id": provider.id,
                "payment_method_id": provider.payment_method_ids[:1].id,
                "payment_details": "4242",
                "partner_id": client.id,
                "provider_ref": f"card-{client.id}",
                "demo_simulated_state": "done",
            }
            for client in clients
        ]
    )
    # The consent staff record with a signed form (the one way to enroll).
    signed_form = ("autopay-form.pdf", base64.b64encode(b"%PDF-1.4 signed"))
    company.billing_autopay_enabled = True  # enrollment asks for it; posting below must not
    for client, token in zip(clients, tokens, strict=True):
        client._billing_autopay_enroll(token, "staff", signed_form=signed_form)
    company.billing_autopay_enabled = False
    invoices = env["account.move"]
    for start in range(0, len(clients), 250):
        invoices |= env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": client.id,
                    "invoice_line_ids": [
                        Command.create({"name": "Session", "price_unit": 150.0, "tax_ids": []})
                        for _ in range(2)
                    ],
                }
                for client in clients[start : start + 250]
            ]
        )
        env.cr.commit()
    # The loop's invoices are posted before AutoPay is on (staff pay them); AutoPay's are
    # scheduled when posted, due at once (no notice).
    autopay, loop = invoices[:n], invoices[n:]
    loop.action_post()
    company.billing_autopay_enabled = True
    autopay.action_post()
    assert set(autopay.mapped("billing_autopay_state")) == {"scheduled"}
    env.cr.commit()
    return autopay, loop


def run(db, n, with_receipts=False):
    registry = Registry(db)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, CONTEXT)
        t0 = time.perf_counter()
        autopay, loop = setup_practice(env, n)
        # Statistics for the data just made, as autovacuum keeps them in a practice's
        # database; else autovacuum analyzes the new tables during the first measurement.
        env.cr.execute("ANALYZE")
        env.cr.commit()
        print(f"N={n}: data ready in {time.perf_counter() - t0:.0f}s", flush=True)
        Move = env["account.move"]

        def charge_by_autopay():
            Move._cron_billing_autopay()

        def pay_one_by_one():
            for invoice in loop:
                wizard = (
                    env["account.payment.register"]
                    .with_context(active_model="account.move", active_ids=invoice.ids)
                    .create({})
                )
                method_line = wizard.available_payment_method_line_ids.filtered(
                    lambda line: line.payment_provider_id.code == "demo"
                )
                wizard.write(
                    {
                        "payment_method_line_id": method_line.id,
                        "payment_token_id": invoice.partner_id.billing_autopay_token_id.id,
                    }
                )
                wizard.action_create_payments()
                env.cr.commit()

        results = [measure(env, "autopay (daily job)", charge_by_autopay, n)]
        results.append(measure(env, "loop (Register Payment each)", pay_one_by_one, n))
        if with_receipts:
            results.append(
                measure(env, "receipts (their own job)", Move._cron_billing_autopay_receipts, n)
            )
        for label, invoices in (("autopay", autopay), ("loop", loop)):
            invoices.invalidate_recordset()
            unpaid = invoices.filtered(lambda m: m.payment_state not in ("paid", "in_payment"))
            assert not unpaid, f"{label}: {len(unpaid)} invoices left unpaid"
            txs = env["payment.transaction"].search_count([("invoice_ids", "in", invoices.ids)])
            payments = env["account.payment"].search_count(
                [("partner_id", "in", invoices.partner_id.ids)]
            )
            assert txs == payments == n, f"{label}: {txs} transactions, {payments} payments"
    autopay_rate, loop_rate = (r["rate"] for r in results[:2])
    print(f"\nN = {n} invoices of $300, one saved card each (payment_demo, 'done')")
    print(f"{'':32} {'charges/s':>10} {'seconds':>8} {'queries/charge':>15}")
    for r in results:
        print(f"{r['label']:32} {r['rate']:10.1f} {r['seconds']:8.1f} {r['queries']:15.1f}")
    print(f"autopay / loop = {autopay_rate / loop_rate:.2f}x", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument(
        "--receipts", action="store_true", help="also time the receipts' job (prints PDFs)"
    )
    args = parser.parse_args()
    config.parse_config(["-c", args.config, "-d", args.db, "--log-level=warn"])
    run(args.db, args.n, with_receipts=args.receipts)


if __name__ == "__main__":
    main()
