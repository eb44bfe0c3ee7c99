from . import res_company
from . import res_config_settings
from . import res_partner
from . import res_partner_autopay
from . import res_partner_autopay_charge
from . import practice_autopay_consent
from . import product_template
from . import calendar_event
from . import account_move_line
from . import practice_billing_delivery_mixin
from . import practice_client_document
from . import account_move
from . import account_move_autopay
from . import account_move_send
from . import practice_billing_run
from . import practice_billing_run_failure
from . import calendar_recurrence
from . import mail_mail

# Styles before the batch: the batch's _run_wkhtmltopdf hands a record its part of a print
# together before the styles' would inline a stylesheet into HTML nobody prints.
from . import ir_actions_report_styles
from . import ir_actions_report_batch
from . import ir_actions_report_margins
from . import ir_actions_report  # after the rendering pieces: its access check wraps them
from . import res_users
from . import practice_client_diagnosis
from . import practice_superbill
from . import practice_superbill_line
from . import practice_statement
from . import practice_billing_document
from . import practice_billing_export
from . import report_account_report_invoice
