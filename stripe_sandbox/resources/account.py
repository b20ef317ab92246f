"""``GET /v1/account``: the one fixed account the sandbox stands for."""

from __future__ import annotations

from typing import Any

from .. import render
from ..state import Sandbox
from ..transport import Request, Route


def retrieve(sandbox: Sandbox, request: Request) -> Any:
    return render.account()


ROUTES = [Route("GET", r"/v1/account", retrieve, "account.retrieve")]
