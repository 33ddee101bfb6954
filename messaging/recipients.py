"""The recipient policy moved to ``messaging.policy`` (one module for who receives what); these
names stay importable from here for the code written against the old module."""

from messaging.policy import (  # noqa: F401
    ROLE_LABELS,
    Recipient,
    number_recipient,
    person_recipient,
    recipient_for,
    recipients_for,
    role_person,
)
