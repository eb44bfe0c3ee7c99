"""18.0.1.2.0: a billing run records the superbills and statements it made, and whether it
was the run of its practice's period. Runs of earlier versions made them without saying so:
the scheduled runs of the 1st get the superbills of the month before and the statements of
the day that were made with them (within the hour of the run), so the Runs list does not
show 0 for documents they made."""


def migrate(cr, version):
    mark_period_runs(cr)
    link_monthly_documents(cr)


def mark_period_runs(cr):
    cr.execute("UPDATE practice_billing_run SET closes_period = TRUE WHERE trigger = 'cron'")


def link_monthly_documents(cr):
    cr.execute(
        """
        INSERT INTO practice_billing_run_practice_superbill_rel
               (practice_billing_run_id, practice_superbill_id)
        SELECT run.id, superbill.id
          FROM practice_superbill superbill, practice_billing_run run
         WHERE run.trigger = 'cron' AND EXTRACT(DAY FROM run.invoice_date) = 1
           AND superbill.company_id = run.company_id
           AND superbill.date_start = (run.invoice_date - INTERVAL '1 month')::date
           AND superbill.date_end = run.invoice_date - 1
           AND superbill.create_date >= run.create_date
           AND superbill.create_date < run.create_date + INTERVAL '1 hour'
        ON CONFLICT DO NOTHING
        """
    )
    cr.execute(
        """
        INSERT INTO practice_billing_run_practice_statement_rel
               (practice_billing_run_id, practice_statement_id)
        SELECT run.id, statement.id
          FROM practice_statement statement, practice_billing_run run
         WHERE run.trigger = 'cron' AND EXTRACT(DAY FROM run.invoice_date) = 1
           AND statement.company_id = run.company_id
           AND statement.date = run.invoice_date
           AND statement.create_date >= run.create_date
           AND statement.create_date < run.create_date + INTERVAL '1 hour'
        ON CONFLICT DO NOTHING
        """
    )
    cr.execute(
        """
        UPDATE practice_billing_run run
           SET superbill_count = (SELECT count(*) FROM practice_billing_run_practice_superbill_rel
                                   WHERE practice_billing_run_id = run.id),
               statement_count = (SELECT count(*) FROM practice_billing_run_practice_statement_rel
                                   WHERE practice_billing_run_id = run.id)
        """
    )
