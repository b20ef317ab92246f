"""The app's models, each defined in the room it belongs to and gathered here: Django
loads ``payments.models``, the migrations name ``payments.models.order_reference_new``, and
``from payments.models import Order`` keeps working.

- ``payments.shop.models``: Product, Order, OrderLine
- ``payments.checkout.models``: PaymentAttempt, PaymentEvent (the ledger), DailyTotal
- ``payments.monitoring.models``: Incident, ScanRun, ScanCursor, ScanLock,
  ReconciliationRun, ReconciliationMismatch
- ``payments.recovery.models``: OpsAction, OpsActionItem, RecoveryLink
- ``payments.stripe.models``: WebhookEvent
- ``payments.privacy.models``: ErasureRecord

Code inside ``payments/`` imports from the room's own module, never from here.
"""

from payments.checkout.models import DailyTotal, LedgerQuerySet, PaymentAttempt, PaymentEvent
from payments.monitoring.models import (
    Incident,
    ReconciliationMismatch,
    ReconciliationRun,
    ScanCursor,
    ScanLock,
    ScanRun,
)
from payments.privacy.models import ErasureRecord
from payments.recovery.models import OpsAction, OpsActionItem, RecoveryLink
from payments.shop.models import Order, OrderLine, Product, order_reference_new
from payments.stripe.models import WebhookEvent

__all__ = ["DailyTotal", "ErasureRecord", "Incident", "LedgerQuerySet", "OpsAction",
           "OpsActionItem", "Order", "OrderLine", "PaymentAttempt", "PaymentEvent", "Product",
           "ReconciliationMismatch", "ReconciliationRun", "RecoveryLink", "ScanCursor",
           "ScanLock", "ScanRun", "WebhookEvent", "order_reference_new"]
