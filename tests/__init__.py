from . import test_settings
from . import test_client
from . import test_session
from . import test_access
from . import test_billing_run
from . import test_billing_concurrency
from . import test_delivery
from . import test_ui
