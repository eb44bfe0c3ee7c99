from . import practice_billing_generate
from . import practice_billing_preview
