from . import res_company
from . import res_config_settings
from . import res_partner
from . import product_template
from . import calendar_event
from . import account_move_line
