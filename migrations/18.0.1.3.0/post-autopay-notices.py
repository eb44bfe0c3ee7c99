"""18.0.1.3.0: AutoPay charges no more than the client's last notice said
(billing_autopay_notice_date / _amount), and announces a larger amount anew. Invoices
scheduled (or retrying) before keep the notice they were given: the date AutoPay would charge
and at most what is due now (earlier versions did not keep the amount), so the upgrade sends
no new notice."""


def migrate(cr, version):
    cr.execute(
        """
        UPDATE account_move
           SET billing_autopay_notice_date = COALESCE(billing_autopay_date, invoice_date),
               billing_autopay_notice_amount = amount_residual
         WHERE billing_autopay_state IN ('scheduled', 'failed')
           AND billing_autopay_notice_date IS NULL
           AND state = 'posted'
        """
    )
