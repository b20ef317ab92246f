"""Paying an order: Stripe's two-step, manually confirmed flow (``services``), the one
way a payment's status changes (``status``), the order lock, the card-testing throttle and
the ``/pay`` endpoint."""
