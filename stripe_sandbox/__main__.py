"""``python -m stripe_sandbox [--host 127.0.0.1] [--port 12111] [--state-file PATH]
[--webhook-url URL --webhook-secret whsec_...] [--webhook-retries test|live|fast]
[--rate-limits off|test|live]``"""

from __future__ import annotations

import argparse
import os

import uvicorn

from .app import SandboxApp
from .auth import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY
from .persistence import StateFileError
from .rate_limits import MODES
from .server import config_for
from .webhooks import RETRY_MODES


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m stripe_sandbox",
                                     description="A local stand-in for Stripe's test mode.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--secret-key",
                        default=os.environ.get("SANDBOX_SECRET_KEY", DEFAULT_SECRET_KEY))
    parser.add_argument("--publishable-key",
                        default=os.environ.get("SANDBOX_PUBLISHABLE_KEY",
                                               DEFAULT_PUBLISHABLE_KEY))
    parser.add_argument("--state-file", metavar="PATH",
                        help="load the state from PATH at start (if it exists) and keep "
                             "saving it there (at most once a second, and at shutdown)")
    parser.add_argument("--webhook-url", metavar="URL",
                        help="register a webhook endpoint at start that receives every event")
    parser.add_argument("--webhook-secret", metavar="whsec_...",
                        help="the signing secret for --webhook-url (the receiver's secret)")
    parser.add_argument("--webhook-retries", choices=RETRY_MODES, default="test",
                        help="retry failed webhook deliveries as Stripe does in 'test' mode "
                             "(three times over a few hours, the default) or 'live' mode (up "
                             "to three days), on the sandbox clock; or 'fast' (0.5 to 8 s)")
    parser.add_argument("--rate-limits", choices=MODES, default="off",
                        help="answer 429 beyond Stripe's limits: 'test' (25 requests/s in "
                             "all, 25/s per endpoint), 'live' (100/s in all, 25/s per "
                             "endpoint) or 'off' (the default)")
    args = parser.parse_args()
    if (args.webhook_url is None) != (args.webhook_secret is None):
        parser.error("--webhook-url and --webhook-secret go together")
    try:
        app = SandboxApp(secret_key=args.secret_key, publishable_key=args.publishable_key,
                         state_file=args.state_file, webhook_url=args.webhook_url,
                         webhook_secret=args.webhook_secret,
                         webhook_retries=args.webhook_retries, rate_limits=args.rate_limits)
    except (StateFileError, ValueError) as error:
        parser.exit(2, f"python -m stripe_sandbox: {error}\n")
    extras = "".join([f"; state in {args.state_file}" if args.state_file else "",
                      f"; every event signed to {args.webhook_url}" if args.webhook_url else "",
                      f"; {args.rate_limits} rate limits" if args.rate_limits != "off" else ""])
    print(f"Stripe sandbox on http://{args.host}:{args.port}  (API /v1/, Stripe.js /v3/, "
          f"controls /_sandbox/; keys {args.secret_key} / {args.publishable_key}{extras})",
          flush=True)
    uvicorn.Server(config_for(app, host=args.host, port=args.port)).run()


if __name__ == "__main__":
    main()
