# Fixtures of the sending tests, shared by the modules of this folder.
from tests.messaging.sending_helpers import no_quiet_hours, sms_outbox  # noqa: F401
