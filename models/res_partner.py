import logging
from collections import defaultdict

from dateutil.relativedelta import relativedelta
from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from .res_company import DELIVERY_METHODS

_logger = logging.getLogger(__name__)

# Health and insurance information (date of birth, insurer, member ID, who seeks
# reimbursement): the practice's billing staff only, not every employee.
BILLING_STAFF = "practice_billing.group_billing_user"
# Billing data is the practice's business: internal users only, never portal clients.
STAFF = "base.group_user"
# A client under this age (at the invoice date) is a minor: their bills go to a parent.
ADULT_AGE = 18


def billing_party_sql(partner, company):
    """SQL condition: the partner in column ``partner`` is a billing party of the practice
    in column ``company``: named as the client of one of its sessions (an event with a
    service), or invoiced for one of its sessions (a parent, a spouse: the responsible
    party who pays, now or before a change).

    The one definition of the practice's scope: statements, past-due reminders, Billing
    Documents and the invoices menu use it (res.partner._billing_parties, account.move
    CLIENT_ENTRIES, practice.billing.document); other customers of the company are left out.
    ``partner`` and ``company`` are column names written by the code, never input."""
    return f"""(EXISTS (SELECT 1 FROM calendar_event bp_e
                    WHERE bp_e.billing_client_id = {partner}
                      AND bp_e.billing_product_id IS NOT NULL
                      AND bp_e.billing_company_id = {company})
             OR EXISTS (SELECT 1 FROM account_move bp_m
                          JOIN account_move_line bp_l ON bp_l.move_id = bp_m.id
                         WHERE bp_m.partner_id = {partner}
                           AND bp_m.company_id = {company}
                           AND bp_l.billing_session_id IS NOT NULL))"""


class ResPartner(models.Model):
    """A partner who attends sessions is a client of the practice."""

    _inherit = "res.partner"

    # Odoo's own per-client, per-practice preference (its Send wizard reads it), with the
    # client portal added: the run, superbills, statements and Odoo agree on one value.
    invoice_sending_method = fields.Selection(selection_add=[("portal", "by Client Portal")])
    billing_delivery_method = fields.Selection(
        selection="_billing_delivery_method_selection",
        string="Delivery Method",
        compute="_compute_billing_delivery_method",
        inverse="_inverse_billing_delivery_method",
        search="_search_billing_delivery_method",
        # New clients get the practice's default, stored on them (see create): changing
        # the default later never rewrites how existing clients receive their documents.
        default=lambda self: self.env.company.billing_default_delivery_method,
        help="How this client receives invoices, superbills and statements (in this "
        "practice). The same preference as Odoo's “Invoice sending”.",
        groups=STAFF,
    )
    billing_needs_superbill = fields.Boolean(
        string="Needs Superbills",
        help="The client pays out of pocket and seeks reimbursement from their insurer.",
        groups=BILLING_STAFF,
    )
    billing_superbill_diagnosis_detail = fields.Selection(
        [("code_description", "Code and description"), ("code", "Code only")],
        string="Diagnoses on Superbills",
        default="code_description",
        required=True,
        help="Privacy option: print diagnoses on this client's superbills with their "
        "description, or as codes only.",
        groups=BILLING_STAFF,
    )
    billing_legal_name = fields.Char(
        string="Legal Name",
        help="Name on insurance documents, when it differs from the name the practice uses.",
        groups=BILLING_STAFF,
    )
    billing_birthdate = fields.Date(string="Date of Birth", groups=BILLING_STAFF)
    billing_insurance_payer = fields.Char(string="Insurance Company", groups=BILLING_STAFF)
    billing_insurance_member_id = fields.Char(string="Member ID", groups=BILLING_STAFF)
    billing_insurance_group_number = fields.Char(string="Group Number", groups=BILLING_STAFF)
    # The policy holder printed on superbills; empty: the responsible party, else the client.
    billing_subscriber_id = fields.Many2one(
        "res.partner",
        string="Policy Holder",
        help="Who holds the insurance policy (the subscriber). Empty: the responsible party "
        "if the client has one, else the client.",
        groups=BILLING_STAFF,
    )
    billing_insured_relationship = fields.Selection(
        [("self", "Self"), ("spouse", "Spouse"), ("child", "Child"), ("other", "Other")],
        string="Relationship to Insured",
        default="self",
        groups=BILLING_STAFF,
    )
    # Who pays (#14): a parent for a child, one partner for a couple. Empty: the client pays.
    billing_responsible_id = fields.Many2one(
        "res.partner",
        string="Responsible Party",
        index="btree_not_null",
        domain="[('id', '!=', id)]",
        help="Who pays for this client's sessions and receives their invoices, statements "
        "and reminders (a parent of a minor, a spouse). Empty: the client pays.",
        groups=STAFF,
    )
    billing_dependent_ids = fields.One2many(
        "res.partner",
        "billing_responsible_id",
        string="Pays For",
        help="The clients whose sessions this contact pays for.",
        groups=STAFF,
    )
    # From the date of birth, which only billing staff read: so is this warning.
    billing_is_minor_without_payer = fields.Boolean(
        string="Minor Without Responsible Party",
        compute="_compute_billing_is_minor_without_payer",
        help="The client is under 18 and nobody is set to pay for them: their sessions are "
        "not invoiced (never a bill to a child) until a responsible party is set.",
        groups=BILLING_STAFF,
    )
    # Health information: billing managers only (the model's access rights say so too).
    billing_diagnosis_ids = fields.One2many(
        "practice.client.diagnosis",
        "partner_id",
        string="Diagnoses",
        groups="practice_billing.group_billing_manager",
    )
    billing_session_ids = fields.One2many(
        "calendar.event",
        "billing_client_id",
        string="Sessions",
        groups=STAFF,
    )
    billing_uninvoiced_amount = fields.Monetary(
        string="Uninvoiced",
        compute="_compute_billing_uninvoiced",
        currency_field="currency_id",
        help="Sessions that have happened, are billable and are not on an invoice yet.",
        groups=STAFF,
    )
    billing_uninvoiced_count = fields.Integer(
        string="Uninvoiced Sessions",
        compute="_compute_billing_uninvoiced",
        groups=STAFF,
    )
    billing_balance = fields.Monetary(
        string="Balance",
        compute="_compute_billing_balance",
        currency_field="currency_id",
        help="What the client owes on posted invoices, less unapplied payments and credits.",
        groups=STAFF,
    )
    billing_last_reminder_date = fields.Date(
        string="Last Past-Due Reminder", copy=False, readonly=True, groups=STAFF
    )
    # The client's billing history at a glance (Billing tab, smart buttons): figures of
    # Billing Documents as the user may read them there (their companies, their documents).
    billing_invoiced_this_year = fields.Monetary(
        string="Invoiced This Year",
        compute="_compute_billing_history",
        currency_field="currency_id",
        help="Invoices less credit notes dated this year (the practice's calendar).",
        groups=BILLING_STAFF,
    )
    billing_paid_this_year = fields.Monetary(
        string="Paid This Year",
        compute="_compute_billing_history",
        currency_field="currency_id",
        help="What the client paid of this year's invoices.",
        groups=BILLING_STAFF,
    )
    billing_amount_due = fields.Monetary(
        string="Amount Due",
        compute="_compute_billing_history",
        currency_field="currency_id",
        help="What is still due on the client's invoices (less open credit notes).",
        groups=BILLING_STAFF,
    )
    billing_past_due_amount = fields.Monetary(
        string="Past Due",
        compute="_compute_billing_history",
        currency_field="currency_id",
        help="What is due on invoices whose due date has passed.",
        groups=BILLING_STAFF,
    )
    billing_last_invoice_id = fields.Many2one(
        "account.move",
        string="Last Invoice",
        compute="_compute_billing_history",
        groups=BILLING_STAFF,
    )
    billing_last_invoice_date = fields.Date(
        string="Last Invoiced On", compute="_compute_billing_history", groups=BILLING_STAFF
    )
    billing_document_count = fields.Integer(
        string="Billing Documents", compute="_compute_billing_history", groups=BILLING_STAFF
    )
    billing_past_due_invoice_ids = fields.Many2many(
        "account.move",
        string="Past-Due Invoices",
        compute="_compute_billing_past_due_invoice_ids",
        help="Posted invoices more than the practice's past-due days overdue.",
        groups=STAFF,
    )

    @api.model
    def _billing_delivery_method_selection(self):
        """The practice's methods, as staff call them, then any other of Odoo's (by Post,
        Peppol) that an installed module adds."""
        odoo_methods = dict(self._fields["invoice_sending_method"]._description_selection(self.env))
        ours = [(key, label) for key, label in DELIVERY_METHODS if key in odoo_methods]
        return ours + [item for item in odoo_methods.items() if item[0] not in dict(ours)]

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            # A method chosen in Odoo's own field (its Send wizard, an import) wins over the
            # practice's default that the billing field brings to every new contact.
            if vals.get("invoice_sending_method"):
                vals["billing_delivery_method"] = vals["invoice_sending_method"]
        return super().create(vals_list)

    @api.depends("invoice_sending_method")
    @api.depends_context("company")
    def _compute_billing_delivery_method(self):
        default = self.env.company.billing_default_delivery_method
        for partner in self:
            partner.billing_delivery_method = partner.invoice_sending_method or default

    def _inverse_billing_delivery_method(self):
        for partner in self:
            partner.invoice_sending_method = partner.billing_delivery_method

    @api.model
    def _search_billing_delivery_method(self, operator, value):
        """Clients whose method (theirs, else the practice's default) matches."""
        if operator not in ("=", "!=", "in", "not in"):
            raise NotImplementedError(operator)
        values = {value} if operator in ("=", "!=") else set(value or ())
        positive = operator in ("=", "in")
        matches = [("invoice_sending_method", "in", [v for v in values if v])]
        if self.env.company.billing_default_delivery_method in values or False in values:
            matches = ["|", *matches, ("invoice_sending_method", "=", False)]
        return matches if positive else ["!", *matches]

    @api.constrains("billing_birthdate")
    def _check_billing_birthdate(self):
        today = fields.Date.context_today(self)
        for client in self.filtered("billing_birthdate"):
            if client.billing_birthdate > today:
                raise ValidationError(
                    self.env._(
                        "The date of birth of %(client)s (%(day)s) is in the future. Check "
                        "the year: insurers reject superbills with it.",
                        client=client.display_name,
                        day=client.billing_birthdate,
                    )
                )

    @api.constrains("billing_responsible_id")
    def _check_billing_responsible_id(self):
        for client in self.filtered("billing_responsible_id"):
            payer = client.billing_responsible_id
            if payer == client:
                raise ValidationError(
                    self.env._(
                        "%(client)s cannot be their own responsible party: leave it empty "
                        "when the client pays for themself.",
                        client=client.display_name,
                    )
                )
            if payer.company_id and payer.company_id != client.company_id:
                # The client's practices bill them and send their superbills (diagnoses)
                # to this contact: never one that only another practice owns.
                raise ValidationError(
                    self.env._(
                        "%(payer)s belongs to %(company)s, but %(client)s does not: choose "
                        "a responsible party of %(client)s's practice (or one without a "
                        "company), or give %(client)s that practice's company.",
                        payer=payer.display_name,
                        company=payer.company_id.display_name,
                        client=client.display_name,
                    )
                )
            if client._billing_pays_for_own_payer():
                raise ValidationError(
                    self.env._(
                        "%(payer)s pays for %(client)s, and %(client)s pays (directly or "
                        "through others) for %(payer)s: only one of them can pay for the "
                        "other. Clear the responsible party on one of the two forms.",
                        client=client.display_name,
                        payer=payer.display_name,
                    )
                )

    def _billing_pays_for_own_payer(self):
        """Whether following responsible parties from this client comes back to them."""
        self.ensure_one()
        seen, payer = self, self.billing_responsible_id
        while payer and payer not in seen:
            seen |= payer
            payer = payer.billing_responsible_id
        return payer == self

    @api.depends("billing_birthdate", "billing_responsible_id")
    @api.depends_context("company")
    def _compute_billing_is_minor_without_payer(self):
        today = self.env.company._billing_local_date(fields.Datetime.now())
        for client in self:
            client.billing_is_minor_without_payer = bool(client._billing_minor_without_payer(today))

    def _billing_payer(self):
        """Who pays for this client: their responsible party, else the client."""
        self.ensure_one()
        return self.billing_responsible_id or self

    def _billing_is_minor_on(self, day):
        """Whether the client is under 18 on ``day`` (by their date of birth; unknown: no)."""
        self.ensure_one()
        birthdate = self.sudo().billing_birthdate
        return bool(birthdate and birthdate + relativedelta(years=ADULT_AGE) > day)

    def _billing_minor_without_payer(self, day):
        """Why this client cannot be invoiced on ``day``, in words, when they are a minor
        with nobody to pay for them; else None. The date of birth stays out of the text
        (run failures and staff to-dos reach employees who may not read it)."""
        self.ensure_one()
        if self.billing_responsible_id or not self._billing_is_minor_on(day):
            return None
        return self.env._(
            "%(client)s is a minor (under 18 on %(day)s) and has no responsible party: a bill "
            "never goes to a child. Set the parent or guardian who pays as Responsible Party "
            "on the client form (Billing tab), then invoice again.",
            client=self.display_name,
            day=day,
        )

    @api.depends_context("allowed_company_ids")
    def _compute_billing_uninvoiced(self):
        sessions = (
            self.env["calendar.event"]
            .sudo()
            .search(
                [
                    ("billing_client_id", "in", self.ids),
                    ("billing_state", "=", "uninvoiced"),
                    # The practices the user works in: never another practice's sessions.
                    ("billing_company_id", "in", self.env.companies.ids),
                ]
            )
        )
        amount, count = defaultdict(float), defaultdict(int)
        for session in sessions:
            amount[session.billing_client_id.id] += session.billing_amount
            count[session.billing_client_id.id] += 1
        for partner in self:
            partner.billing_uninvoiced_amount = amount[partner.id]
            partner.billing_uninvoiced_count = count[partner.id]

    @api.depends_context("company")
    def _compute_billing_balance(self):
        # Odoo's receivable figure: posted, unreconciled receivable lines of the client.
        for partner in self:
            partner.billing_balance = partner.sudo().credit

    @api.depends_context("uid", "allowed_company_ids")
    def _compute_billing_history(self):
        """Read from Billing Documents as the user: its record rules decide what counts
        (companies selected, no superbills for Billing Users), never sudo."""
        Document = self.env["practice.billing.document"]
        mine = [("partner_id", "in", self.ids), ("company_id", "in", self.env.companies.ids)]
        invoices = [*mine, ("document_type", "in", ("invoice", "credit_note"))]
        year_start = self.env.company._billing_local_date(fields.Datetime.now()).replace(
            month=1, day=1
        )
        figures = {
            "year": Document._read_group(
                [*invoices, ("date", ">=", year_start)],
                ["partner_id"],
                ["amount_invoiced:sum", "amount_paid:sum"],
            ),
            "due": Document._read_group(invoices, ["partner_id"], ["amount_due:sum"]),
            "past_due": Document._read_group(
                [*invoices, ("is_past_due", "=", True)], ["partner_id"], ["amount_due:sum"]
            ),
            "count": Document._read_group(mine, ["partner_id"], ["__count"]),
        }
        by_client = {
            key: {partner: values for partner, *values in groups} for key, groups in figures.items()
        }
        last_invoices = Document.search(
            [*mine, ("document_type", "=", "invoice")], order="date desc, id desc"
        )
        for partner in self:
            invoiced, paid = by_client["year"].get(partner, (0.0, 0.0))
            last = last_invoices.filtered(lambda d, p=partner: d.partner_id == p)[:1]
            partner.billing_invoiced_this_year = invoiced
            partner.billing_paid_this_year = paid
            partner.billing_amount_due = by_client["due"].get(partner, (0.0,))[0]
            partner.billing_past_due_amount = by_client["past_due"].get(partner, (0.0,))[0]
            partner.billing_document_count = by_client["count"].get(partner, (0,))[0]
            partner.billing_last_invoice_id = last._source() if last else False
            partner.billing_last_invoice_date = last.date

    def action_billing_view_documents(self):
        """Open Billing Documents on this client's documents."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "practice_billing.action_billing_documents"
        )
        action["context"] = {"search_default_partner_id": self.id}
        return action

    def action_billing_view_uninvoiced_sessions(self):
        """Open this client's sessions, filtered on the uninvoiced ones."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "practice_billing.action_billing_sessions"
        )
        action["domain"] = [("billing_client_id", "=", self.id)]
        action["context"] = {"search_default_filter_uninvoiced": 1}
        return action

    @api.depends_context("company")
    def _compute_billing_past_due_invoice_ids(self):
        company = self.env.company
        today = company._billing_local_date(fields.Datetime.now())
        invoices = self.env["account.move"].sudo()._billing_past_due_invoices(company, today)
        by_client = invoices.grouped("partner_id")
        for partner in self:
            partner.billing_past_due_invoice_ids = by_client.get(partner, invoices.browse())

    def _billing_diagnoses_on(self, day, company):
        """The client's diagnoses in ``company`` that apply to a session on ``day``, primary
        first."""
        self.ensure_one()
        return (
            self.sudo()
            .billing_diagnosis_ids.filtered(
                lambda d: d.date_start <= day and d.company_id == company
            )
            .sorted(lambda d: (d.sequence, d.id))
        )

    # ------------------------------------------------------------------ clients
    @api.model
    def _billing_clients(self, company):
        """The practice's clients: the partners named as client of one of its sessions (an
        event with a client and a service).

        A database may hold other customers (another business of the company, Odoo's demo
        companies, whom Odoo's demo meetings name as attendees). Statements, reminders and
        Billing Documents are for these and those who pay for them (_billing_parties)."""
        self.env["calendar.event"].flush_model(
            ["billing_client_id", "billing_company_id", "billing_product_id"]
        )
        self.env.cr.execute(
            SQL(
                """
                SELECT DISTINCT billing_client_id FROM calendar_event
                 WHERE billing_client_id IS NOT NULL AND billing_product_id IS NOT NULL
                   AND billing_company_id = %s
                """,
                company.id,
            )
        )
        return self.browse(row[0] for row in self.env.cr.fetchall())

    @api.model
    def _billing_parties(self, company):
        """The practice's billing parties: its clients and those who pay for them (see
        billing_party_sql, the one definition). Statements and past-due reminders are for
        these only."""
        self.env["calendar.event"].flush_model(
            ["billing_client_id", "billing_company_id", "billing_product_id"]
        )
        self.env["account.move"].flush_model(["partner_id", "company_id"])
        self.env["account.move.line"].flush_model(["billing_session_id", "move_id"])
        self.env.cr.execute(
            SQL(
                "SELECT p.id FROM res_partner p, res_company c WHERE c.id = %s AND %s",
                company.id,
                SQL(billing_party_sql("p.id", "c.id")),
            )
        )
        return self.browse(row[0] for row in self.env.cr.fetchall())

    # ------------------------------------------------------------------ staff
    def _billing_responsible_user(self, company, record=None):
        """The staff member who handles this client's billing work in ``company``.

        The client's salesperson, else the practice's billing responsible (Settings), else
        one of its billing managers, else one of its billing users, else an administrator.
        Only active internal users of that practice qualify, who may read ``record`` (the
        document the work is about: a superbill's to-do goes to a Billing Manager, never to
        a front-desk user who may not see it): never a portal client, an archived user or the
        system user. Returns an empty recordset when the practice has nobody.
        """
        self.ensure_one()
        candidates = [
            self.sudo().user_id,
            company.sudo().billing_responsible_user_id,
            self.env.ref("practice_billing.group_billing_manager").sudo().users,
            self.env.ref("practice_billing.group_billing_user").sudo().users,
            self.env.ref("base.group_system").sudo().users,
        ]
        for users in candidates:
            staff = users._billing_staff_of(company)
            if record is not None:
                staff = staff.filtered(lambda user: record.with_user(user).has_access("read"))
            if staff:
                return staff.sorted("id")[:1].sudo(False)
        return self.env["res.users"]

    def _billing_schedule_activity(self, record, summary, lines, company):
        """Give staff a to-do on ``record`` about this client, once: a second call with the
        same summary while the first is open adds nothing. ``lines`` are plain text
        (names included) shown as separate lines, escaped."""
        self.ensure_one()
        record = record.sudo()
        if record.activity_ids.filtered(lambda activity: activity.summary == summary):
            return record.activity_ids.browse()
        note = Markup("<br/>").join(lines if isinstance(lines, list) else [lines])
        responsible = self._billing_responsible_user(company, record)
        if not responsible:
            # Nobody works in this practice: the chatter keeps it for whoever comes.
            _logger.warning("%s: no staff to assign “%s” to", record.display_name, summary)
            record.message_post(body=Markup("<p><b>%s</b></p><p>%s</p>") % (summary, note))
            return record.activity_ids.browse()
        return record.activity_schedule(
            "mail.mail_activity_data_todo", summary=summary, note=note, user_id=responsible.id
        )

    # ------------------------------------------------------------------ delivery
    def _billing_ask_for_email(self, company):
        """Ask staff, once, for the email address this client's documents need."""
        for client in self:
            client._billing_schedule_activity(
                client,
                self.env._("Add an email address"),
                self.env._(
                    "%(client)s receives billing documents by email or in the client portal "
                    "but has no email address. Documents are left to deliver manually until "
                    "one is added.",
                    client=client.display_name,
                ),
                company,
            )

    def _billing_grant_portal_access(self):
        """Give these clients portal access (with Odoo's invitation) if they lack it."""
        outsiders = self.sudo().filtered(lambda p: not p.user_ids)
        if not outsiders:
            return
        wizard = self.env["portal.wizard"].sudo().create({"partner_ids": [(6, 0, outsiders.ids)]})
        for wizard_user in wizard.user_ids:
            wizard_user.action_grant_access()

    def _billing_remind_past_due(self, invoices, today):
        """Remind this client of ``invoices`` (one email), unless reminded too recently."""
        self.ensure_one()
        company = invoices.company_id
        last = self.billing_last_reminder_date
        if last and (today - last).days < company.billing_reminder_interval_days:
            return False
        method = self.with_company(company).billing_delivery_method
        if method == "manual" or not self.email:
            self._billing_ask_staff_to_remind(invoices)
            how = self.env._("left to staff (an activity on the client)")
        else:
            self.with_company(company).message_post_with_source(
                "practice_billing.mail_template_billing_past_due",
                subtype_xmlid="mail.mt_comment",
                partner_ids=self.ids,
            )
            how = self.env._("emailed to %(email)s", email=self.email)
        self.billing_last_reminder_date = today
        invoices._billing_log_reminder(today, how)
        return True

    def _billing_ask_staff_to_remind(self, invoices):
        self._billing_schedule_activity(
            self,
            self.env._("Remind client of past-due invoices"),
            self.env._(
                "Past due: %(invoices)s. This client receives documents manually (or has no "
                "email address): contact them about payment.",
                invoices=", ".join(invoices.mapped("name")),
            ),
            invoices.company_id[:1],
        )

    def action_billing_invoice_now(self):
        """Bill these clients' sessions that have happened, now, to whoever pays for them:
        with one invoice per family (Settings), the rest of each one's family comes along
        (one invoice, never split), and a payer's clients with them (see
        practice.billing.run._clients_billed_with)."""
        company = self.env.company
        now = fields.Datetime.now()
        run = self.env["practice.billing.run"]._run_now(
            "manual", now, company._billing_local_date(now), self
        )
        return run._action_open()

    def action_billing_generate_documents(self):
        """Open "Generate billing documents" for these clients: a superbill or a statement
        on demand, for any period."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "practice_billing.action_billing_generate"
        )
        action["context"] = {
            "default_partner_ids": self.ids,
            "default_generate_invoices": False,
            "default_generate_superbills": any(self.mapped("billing_needs_superbill")),
            "default_generate_statements": not any(self.mapped("billing_needs_superbill")),
        }
        return action
