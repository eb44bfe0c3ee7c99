"""18.0.1.1.0: a client's delivery method is Odoo's own per-practice "Invoice sending"
preference (res.partner.invoice_sending_method, with the client portal added) instead of a
column of its own. Each client keeps the method they had, in every practice: it wins over a
value in Odoo's field, which Odoo's Send wizard stored on its own ("by Email", its default then)
the first time staff sent an invoice to a client who had none, whatever the practice chose."""


def migrate(cr, version):
    move_delivery_methods_to_odoo(cr)


def move_delivery_methods_to_odoo(cr):
    cr.execute(
        """
        SELECT 1 FROM information_schema.columns
         WHERE table_name = 'res_partner' AND column_name = 'billing_delivery_method'
        """
    )
    if not cr.fetchone():
        return
    cr.execute(
        """
        UPDATE res_partner partner
           SET invoice_sending_method =
               COALESCE(partner.invoice_sending_method, '{}'::jsonb) || COALESCE(
                   (SELECT jsonb_object_agg(company.id::text, partner.billing_delivery_method)
                      FROM res_company company),
                   '{}'::jsonb
               )
         WHERE partner.billing_delivery_method IS NOT NULL
        """
    )
    cr.execute("ALTER TABLE res_partner DROP COLUMN billing_delivery_method")
