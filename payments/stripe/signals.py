"""What the stripe room announces to the rooms above it.

``webhook_event_stored`` is sent after the commit that stored a new webhook event, with
``event_id``: monitoring queues its processing (``payments.monitoring.receivers``).
"""

from __future__ import annotations

from django.dispatch import Signal

webhook_event_stored = Signal()
