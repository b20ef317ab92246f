"""What the checkout announces, so rooms above it can react without it knowing them.

``payment_settled`` is sent inside the status record's transaction when an attempt
becomes succeeded or canceled (once per attempt: a repeated fact changes nothing), with

- ``attempt``: the attempt as stored;
- ``previous``: its status before;
- ``source``: who reported it (``PaymentEvent.Source``: pay, webhook, scan, admin);
- ``confirmed``: the report is the answer to a confirm call of ours (not a read);
- ``replayed``: that answer was Stripe's replay for its idempotency key (an earlier
  request with the same key, such as a sweep's whose answer was lost, did the work).

Monitoring ends the payment's incidents on it (``payments.monitoring.receivers``).

``payment_challenged`` is sent inside the status record's transaction when an attempt's
``requires_action_at`` moves (it entered ``requires_action``), with ``attempt`` (as
stored) and ``before`` (the previous value, or None). Monitoring's daily failure totals,
which say whether a failed payment was challenged, follow it.
"""

from __future__ import annotations

from django.dispatch import Signal

payment_settled = Signal()
payment_challenged = Signal()
