"""Stripe's side: the one module that calls the SDK (``gateway``), what Stripe does that
we rely on (``facts``), and the door webhooks come in by (``webhooks``)."""
