"""``python -m stripe_sandbox [--host 127.0.0.1] [--port 12111]``"""

from __future__ import annotations

import argparse
import os

import uvicorn

from .app import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY, SandboxApp
from .server import config_for


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
    args = parser.parse_args()
    app = SandboxApp(secret_key=args.secret_key, publishable_key=args.publishable_key)
    print(f"Stripe sandbox on http://{args.host}:{args.port}  (API /v1/, Stripe.js /v3/, "
          f"controls /_sandbox/; keys {args.secret_key} / {args.publishable_key})", flush=True)
    uvicorn.Server(config_for(app, host=args.host, port=args.port)).run()


if __name__ == "__main__":
    main()
