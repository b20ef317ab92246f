"""What the product counts for ops to watch (``counters``), below every other room so each
can count; ``paymentsite.metrics`` serves the counts to Prometheus."""
