"""18.0.1.3.0: an invoice links the last charge AutoPay made of it
(billing_autopay_transaction_id), which AutoPay alone settles; earlier versions took any
transaction of the invoice for theirs. The link is set for the charges AutoPay made before:
offline transactions with the client's saved card whose payment, if any, Odoo's
post-processing made after them (staff's Register Payment with a card makes its payment
first, in the same database transaction, so it is never taken for AutoPay's)."""


def migrate(cr, version):
    link_autopay_transactions(cr)


def link_autopay_transactions(cr):
    cr.execute(
        """
        UPDATE account_move move
           SET billing_autopay_transaction_id = latest.transaction_id
          FROM (SELECT DISTINCT ON (rel.invoice_id) rel.invoice_id, tx.id AS transaction_id
                  FROM account_invoice_transaction_rel rel
                  JOIN payment_transaction tx ON tx.id = rel.transaction_id
                  LEFT JOIN account_payment payment ON payment.id = tx.payment_id
                 WHERE tx.operation = 'offline'
                   AND tx.token_id IS NOT NULL
                   AND (payment.id IS NULL OR payment.create_date > tx.create_date)
                 ORDER BY rel.invoice_id, tx.id DESC) latest
         WHERE move.id = latest.invoice_id
           AND move.billing_autopay_state IS NOT NULL
           AND move.billing_autopay_transaction_id IS NULL
        """
    )
