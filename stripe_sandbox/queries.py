"""List pagination and the Search Query Language for PaymentIntents.

List (docs: api/pagination): newest first, ``limit`` 1–100 (default 10),
``starting_after`` / ``ending_before`` cursors, ``created`` ranges.
Search (docs: search#search-query-language): clauses ``field:value``,
``field>value`` (also ``<``, ``>=``, ``<=``), ``-field:value`` negation, and
``metadata["key"]:"value"``, joined by ``AND`` or by ``OR`` (not both);
``page`` is the opaque ``next_page`` cursor of the previous result.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from typing import Any

from .errors import SandboxError, invalid_request, resource_missing
from .records import PaymentIntent

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


def check_limit(params: dict[str, Any]) -> int:
    limit = params.get("limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid_request("This value must be greater than or equal to 1 and less than or "
                              "equal to 100.", param="limit")
    return limit


def created_filter(params: dict[str, Any]) -> Callable[[int], bool] | None:
    created = params.get("created")
    if not created:
        return None
    checks = {"eq": lambda v, x: v == x, "gt": lambda v, x: v > x, "gte": lambda v, x: v >= x,
              "lt": lambda v, x: v < x, "lte": lambda v, x: v <= x}
    bounds = [(checks[op], value) for op, value in created.items()]
    return lambda value: all(check(value, bound) for check, bound in bounds)


def paginate(items: Sequence[Any], *, params: dict[str, Any], position: Callable[[str], int],
             keep: Callable[[Any], bool] | None = None,
             start: int = 0, stop: int | None = None) -> tuple[list[Any], bool]:
    """One page of ``items`` (already newest first) and whether more follow.

    ``position(id)`` finds a cursor's index; ``start``/``stop`` narrow the scan
    (a sorted index can skip straight to a ``created`` range), so a page costs
    O(page) when ``keep`` rejects nothing.
    """
    limit = check_limit(params)
    if params.get("starting_after") and params.get("ending_before"):
        raise invalid_request("You may only specify one of these parameters: ending_before, "
                              "starting_after.", param="ending_before")
    stop = len(items) if stop is None else stop
    if params.get("ending_before"):
        end = min(_cursor_at(position, params, "ending_before"), stop)
        page: list[Any] = []
        index = end - 1
        while index >= start and len(page) <= limit:
            if keep is None or keep(items[index]):
                page.append(items[index])
            index -= 1
        has_more = len(page) > limit
        return list(reversed(page[:limit])), has_more
    if params.get("starting_after"):
        start = max(start, _cursor_at(position, params, "starting_after") + 1)
    page = []
    index = start
    while index < stop and len(page) <= limit:
        if keep is None or keep(items[index]):
            page.append(items[index])
        index += 1
    return page[:limit], len(page) > limit


def _cursor_at(position: Callable[[str], int], params: dict[str, Any], name: str) -> int:
    """The cursor's index; an unknown one is Stripe's 400 ``resource_missing`` naming the
    cursor's own parameter."""
    try:
        return position(params[name])
    except SandboxError as error:
        if error.code == "resource_missing":
            error.param = name
        raise


# --- search ---------------------------------------------------------------------------

_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?(?P<field>metadata\[(?:"[^"]*"|'[^']*')\]|[a-z_]+)\s*
        (?P<op>:|>=|<=|>|<)\s*
        (?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s"']+)\s*""", re.X)
_FIELDS = {"amount", "created", "currency", "customer", "status", "metadata"}
_NUMERIC = {"amount", "created"}


def search_parse(query: str) -> Callable[[PaymentIntent], bool]:
    """Compile a search query into a predicate, or raise Stripe's 400."""
    parts = re.split(r"\s+(AND|OR)\s+", query.strip())
    clauses, joins = parts[0::2], set(parts[1::2])
    if len(joins) > 1:
        raise _bad_query("Queries cannot mix AND and OR.")
    tests = [_clause(text) for text in clauses]
    if joins == {"OR"}:
        return lambda intent: any(test(intent) for test in tests)
    return lambda intent: all(test(intent) for test in tests)


def _clause(text: str) -> Callable[[PaymentIntent], bool]:
    match = _CLAUSE.fullmatch(text)
    if not match:
        raise _bad_query(f"Could not parse the clause `{text.strip()}`.")
    field, op, raw = match["field"], match["op"], match["value"]
    negate = bool(match["neg"])
    value = raw[1:-1] if raw[0] in "\"'" else raw
    if field.startswith("metadata["):
        key = field[10:-2]
        if op != ":":
            raise _bad_query("metadata supports only the `:` operator.")
        test = lambda intent: intent.metadata.get(key) == value  # noqa: E731
    elif field not in _FIELDS or field == "metadata":
        raise _bad_query(f"Field `{field}` is an unsupported search field for resource "
                         "`payment_intents`.")
    elif field in _NUMERIC:
        # ASCII and bounded: int() refuses unicode digits and, past 4,300
        # digits, Python's int-string conversion limit.
        if not re.fullmatch(r"-?[0-9]{1,18}", value, re.ASCII):
            raise _bad_query(f"`{field}` needs an integer of at most 18 digits, got "
                             f"`{value[:40]}`.")
        test = _compare(field, op, int(value))
    else:
        if op != ":":
            raise _bad_query(f"`{field}` supports only the `:` operator.")
        test = lambda intent: getattr(intent, field) == value  # noqa: E731
    return (lambda intent: not test(intent)) if negate else test


def _compare(field: str, op: str, bound: int) -> Callable[[PaymentIntent], bool]:
    ops = {":": int.__eq__, ">": int.__gt__, "<": int.__lt__, ">=": int.__ge__,
           "<=": int.__le__}
    check = ops[op]
    return lambda intent: check(getattr(intent, field), bound)


def _bad_query(message: str) -> Exception:
    return invalid_request(f"Invalid query: {message}", param="query")


def page_token(intent: PaymentIntent) -> str:
    """A cursor that survives inserts: the sort key of the last intent returned."""
    return base64.urlsafe_b64encode(f"pi:{intent.created}:{intent.seq}".encode()).decode()


def page_key(token: str) -> tuple[int, int]:
    try:
        kind, created, seq = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if kind == "pi":
            return -int(created), -int(seq)
    except ValueError:
        pass
    raise invalid_request("Invalid page: not a cursor returned by a previous search.",
                          param="page")


# --- list helpers shared by the resources -------------------------------------------------


def list_object(data: list[Any], has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def cursor_missing(kind: str, object_id: str) -> SandboxError:
    return resource_missing(kind, object_id, param="starting_after", status=400)


def position_in(positions: dict[str, int], object_id: str, kind: str) -> int:
    """A cursor's index in a list built for one request (``{id: index}``)."""
    if object_id not in positions:
        raise cursor_missing(kind, object_id)
    return positions[object_id]


def created_slice(items: Any, created: dict[str, int] | None) -> tuple[int, int | None]:
    """``created`` bounds as a slice of a list sorted by ``(-created, -seq)``."""
    if not created:
        return 0, None
    low = created.get("gte", created.get("eq"))
    if "gt" in created:
        low = max(low or 0, created["gt"] + 1)
    high = created.get("lte", created.get("eq"))
    if "lt" in created:
        high = min(high if high is not None else created["lt"] - 1, created["lt"] - 1)
    start, stop = 0, None
    if high is not None:
        start = items.bisect_key_left((-high, float("-inf")))
    if low is not None:
        stop = items.bisect_key_right((-low, float("inf")))
    return start, stop
