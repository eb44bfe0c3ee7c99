from . import practice_billing_generate
from . import practice_billing_preview
from . import practice_autopay_enroll
