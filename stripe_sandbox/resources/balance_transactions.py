"""``/v1/balance_transactions``: retrieve and list; each is a view of a captured charge."""

from __future__ import annotations

from typing import Any

from ..queries import created_filter, list_object, paginate, position_in
from ..records import BalanceTransaction
from ..state import Sandbox
from ..transport import Request, Route


def retrieve(sandbox: Sandbox, request: Request) -> Any:
    txn = sandbox.balance_transaction_get(request.path_id())
    if txn is None:
        raise sandbox.not_found("balance_transaction", request.path_id(), None)
    return txn


def list_(sandbox: Sandbox, request: Request) -> Any:
    params = request.params
    if params.get("source"):
        ids = [params["source"]] if params["source"] in sandbox.charges else []
    else:
        ids = list(sandbox.charges)
    txns = [BalanceTransaction(sandbox.charges[i]) for i in reversed(ids)
            if sandbox.charges[i].captured]
    created = created_filter(params)
    currency, kind = params.get("currency"), params.get("type")

    def keep(txn: BalanceTransaction) -> bool:
        return ((created is None or created(txn.charge.created))
                and (currency is None or txn.charge.currency == currency.lower())
                and (kind is None or kind == "charge"))

    positions = {txn.id: index for index, txn in enumerate(txns)}
    data, has_more = paginate(txns, params=params, keep=keep, position=lambda tid:
                              position_in(positions, tid, "balance_transaction"))
    return list_object(data, has_more, "/v1/balance_transactions")


ROUTES = [
    Route("GET", r"/v1/balance_transactions", list_, "balance_transaction.list"),
    Route("GET", r"/v1/balance_transactions/(?P<id>[^/]+)", retrieve,
          "balance_transaction.retrieve"),
]
