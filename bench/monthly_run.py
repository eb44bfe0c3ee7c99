"""Benchmark: the monthly billing run against plain Odoo invoicing, on identical data.

Run through ``./dev.sh bench [N ...]`` (it prepares a fresh database per N). For N clients
with four $150 sessions each, it times in one process:

- engine: ``practice.billing.run`` billing every client (lock, create, post, link, queue
  the emails, commit);
- loop:   plain Odoo, ``create`` + ``action_post`` one client at a time;
- floor:  plain Odoo, one batched ``create(vals_list)`` + ``action_post()``.

The references invoice their own N clients with the same four lines each, so all three do
the same accounting work; the engine also locks and links the sessions it bills.
"""

import argparse
import resource
import time
from datetime import datetime, timedelta

import odoo
from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tools import config

CONTEXT = {
    "no_mail_to_attendees": True,
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_notrack": True,
    "dont_notify": True,
}
SESSION_DAYS = (2, 9, 16, 23)


def setup_practice(env, n):
    """N clients with four sessions each last month, and 2N clients for the references."""
    company = env.company
    company.write({"billing_auto_invoice": True, "billing_last_cutoff": False})
    company.partner_id.tz = "America/New_York"
    service = env["product.product"].create(
        {
            "name": "Psychotherapy, 53 min",
            "type": "service",
            "list_price": 150.0,
            "billing_cpt_code": "90837",
            "taxes_id": [],
        }
    )
    # Clients receive their invoices by email: the engine queues them for Odoo's sending.
    clients = env["res.partner"].create(
        [
            {
                "name": f"Client {i:05d}",
                "email": f"client{i:05d}@example.com",
                "billing_delivery_method": "email",
            }
            for i in range(n)
        ]
    )
    others = env["res.partner"].create([{"name": f"Reference {i:05d}"} for i in range(2 * n)])
    month = (datetime.now().replace(day=1) - timedelta(days=1)).replace(day=1)
    starts = [
        month.replace(day=day, hour=15, minute=0, second=0, microsecond=0) for day in SESSION_DAYS
    ]
    Session = env["calendar.event"]
    for chunk_start in range(0, n, 500):
        Session.create(
            [
                {
                    "name": f"{client.name} session",
                    "start": start,
                    "stop": start + timedelta(minutes=53),
                    "partner_ids": [Command.set(client.ids)],
                    "billing_product_id": service.id,
                }
                for client in clients[chunk_start : chunk_start + 500]
                for start in starts
            ]
        )
        env.cr.commit()
        env.invalidate_all()
    return company, service, clients, others[:n], others[n:], starts


def reference_vals(partners, service, starts):
    return [
        {
            "move_type": "out_invoice",
            "partner_id": partner.id,
            "invoice_date": starts[0].date(),
            "invoice_line_ids": [
                Command.create(
                    {
                        "product_id": service.id,
                        "name": f"{start.date()} — Psychotherapy, 53 min",
                        "quantity": 1,
                        "price_unit": 150.0,
                    }
                )
                for start in starts
            ],
        }
        for partner in partners
    ]


def measure(env, label, work, n):
    env.cr.commit()
    env.invalidate_all()
    queries = odoo.sql_db.sql_counter
    started = time.perf_counter()
    work()
    env.cr.commit()
    elapsed = time.perf_counter() - started
    queries = odoo.sql_db.sql_counter - queries
    env.invalidate_all()
    return {"label": label, "seconds": elapsed, "rate": n / elapsed, "queries": queries / n}


def run(db, n):
    registry = Registry(db)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, CONTEXT)
        t0 = time.perf_counter()
        company, service, _clients, loop_partners, floor_partners, starts = setup_practice(env, n)
        print(f"N={n}: data ready in {time.perf_counter() - t0:.0f}s", flush=True)
        # Warm Odoo's caches (accounts, taxes, sequences) once, for all three alike.
        warm_up = env["res.partner"].create({"name": "Warm-up"})
        env["account.move"].create(reference_vals(warm_up, service, starts)).action_post()

        def engine():
            run = env["practice.billing.run"]._run_due_period(company, datetime.now())
            assert run.state == "done", run.failure_ids.mapped("reason")

        def loop():
            Move = env["account.move"]
            for vals in reference_vals(loop_partners, service, starts):
                Move.create(vals).action_post()

        def floor():
            env["account.move"].create(
                reference_vals(floor_partners, service, starts)
            ).action_post()

        results = [measure(env, "engine", engine, n)]
        results.append(measure(env, "loop (create+post each)", loop, n))
        results.append(measure(env, "floor (batched create+post)", floor, n))
        billed = env["account.move"].search_count([("billing_run_id", "!=", False)])
        assert billed == n, f"engine made {billed} invoices for {n} clients"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    engine_rate, loop_rate, floor_rate = (r["rate"] for r in results)
    print(f"\nN = {n} clients, 4 sessions each")
    print(f"{'':30} {'invoices/s':>10} {'seconds':>8} {'queries/invoice':>16}")
    for r in results:
        print(f"{r['label']:30} {r['rate']:10.1f} {r['seconds']:8.1f} {r['queries']:16.1f}")
    print(f"engine / loop  = {engine_rate / loop_rate:.2f}x   (target >= 2)")
    print(f"engine / floor = {engine_rate / floor_rate:.2f}x   (target >= 0.9)")
    print(f"peak RSS of the process = {peak_mb:.0f} MB   (target < 1024 at N = 5000)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("-n", type=int, default=500)
    args = parser.parse_args()
    config.parse_config(["-c", args.config, "-d", args.db, "--log-level=warn"])
    run(args.db, args.n)


if __name__ == "__main__":
    main()
