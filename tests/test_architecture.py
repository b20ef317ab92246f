"""The project's architecture, checked (docs/architecture.md).

1. ``payments/stripe/gateway.py`` is the only app module that imports ``stripe``, besides
   its HTTP transport (``payments/stripe/transport.py``), which only the gateway imports.
2. The rooms of ``payments/`` depend one way, bottom up: stripe <- shop <- checkout, mail
   <- monitoring <- recovery <- privacy (``ROOMS`` says exactly which may import which);
   none imports ``payments.models`` (the re-export), the admin, the management commands or
   the project, which wire the rooms together from above.
3. Inside a room, services never import its entry points (views, tasks, receivers,
   webhook views); models modules import only models and the Stripe facts.
4. ``stripe_sandbox`` is a stand-alone Stripe: no Django, nothing of the site.
5. One writer per record: an ``Incident`` row is written only in
   ``payments/monitoring/incidents.py``, the ledger (``PaymentEvent``) only in
   ``payments/checkout/status.py``, a ``PaymentAttempt`` only in the checkout's status
   record and services (``WRITERS``). A write is a query set's ``create``, ``update``,
   ``delete`` (and their bulk and ``get_or_``/``update_or_`` forms) on a chain that starts
   at the model's name: ``Incident.objects.filter(...).update(...)``.

Imports are read with ``ast`` from the source files, anywhere in a module (a lazy import
inside a function counts), relative ones resolved; ``importlib.import_module("x")`` and
``__import__("x")`` with a literal name count too. Each failure names the file, the line
and the import.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP_PACKAGES = ("payments", "paymentsite")

# The rooms of the app, bottom up, and the rooms each may import. A room is a subpackage
# of payments/ with one job; see docs/architecture.md.
ROOMS: dict[str, set[str]] = {
    "payments.telemetry": set(),
    "payments.stripe": {"payments.telemetry"},
    "payments.shop": {"payments.telemetry", "payments.stripe"},
    "payments.checkout": {"payments.telemetry", "payments.stripe", "payments.shop"},
    "payments.mail": {"payments.telemetry", "payments.stripe", "payments.shop"},
    "payments.monitoring": {"payments.telemetry", "payments.stripe", "payments.shop",
                            "payments.checkout", "payments.mail"},
    "payments.recovery": {"payments.telemetry", "payments.stripe", "payments.shop",
                          "payments.checkout", "payments.mail", "payments.monitoring"},
    # A shopper's data found and erased across the rooms that hold it; none imports it.
    "payments.privacy": {"payments.shop", "payments.checkout", "payments.monitoring",
                         "payments.recovery"},
}
# What wires the rooms together, above all of them: may import any room.
WIRING = ("payments.models", "payments.apps", "payments.urls", "payments.admin",
          "payments.management", "payments.templatetags", "paymentsite")
# A room's modules that requests, Celery and signals enter by; the rest of a room are its
# services, which never import an entry point (of any room).
ENTRY_POINT_NAMES = ("views", "tasks", "receivers", "webhooks")
# The modules that define models (and the facts they use) import no service.
MODELS_MAY_IMPORT = ("payments.stripe.facts",)
OUTSIDE_RULES = ("payments.migrations",)  # history, frozen as written
STRIPE_ONLY_IN = "payments.stripe.gateway"
STRIPE_TRANSPORT = "payments.stripe.transport"  # stripe-python's HTTP client, the gateway's
SANDBOX_FORBIDDEN = ("django", "djstripe", "payments", "paymentsite", "celery", "tests")
# The one module (or two) that may write each record; a newcomer's Incident.update() from
# recovery/actions.py passed every check before.
WRITERS = {"Incident": ("payments.monitoring.incidents",),
           "PaymentEvent": ("payments.checkout.status",),
           "PaymentAttempt": ("payments.checkout.status", "payments.checkout.services")}
WRITE_METHODS = {"create", "bulk_create", "update", "bulk_update", "delete", "get_or_create",
                 "update_or_create"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. "payments.monitoring.scans"
    path: str  # its file, relative to the repository
    line: int
    target: str  # a module it imports (or may import), e.g. "payments.stripe.gateway"
    statement: str  # the source of the import, for the failure message

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.module}) imports {self.target}: " \
               f"`{self.statement}`"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in_source(source: str, *, module: str, path: str, is_package: bool = False
                      ) -> list[Import]:
    """Every module ``source`` imports. ``from a import b`` yields both ``a`` and ``a.b``
    (``b`` may be a submodule), so either spelling of an import is caught."""
    tree = ast.parse(source, filename=path)
    lines = source.splitlines()
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []

    def add(node: ast.AST, target: str) -> None:
        statement = lines[node.lineno - 1].strip() if node.lineno <= len(lines) else ""
        found.append(Import(module, path, node.lineno, target, statement))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                if node.level > 1:
                    base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base:
                add(node, base)
            for alias in node.names:
                if alias.name != "*":
                    add(node, f"{base}.{alias.name}" if base else alias.name)
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args \
                and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            add(node, node.args[0].value)
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def imports_under(*packages: str) -> list[Import]:
    found: list[Import] = []
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            found += imports_in_source(
                path.read_text(encoding="utf-8"), module=module_name(path, ROOT),
                path=str(path.relative_to(ROOT)), is_package=path.name == "__init__.py")
    return found


def within(name: str, prefixes: tuple[str, ...] | str) -> bool:
    """Whether module ``name`` is one of ``prefixes`` or inside one of them."""
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def room_of(name: str) -> str | None:
    return next((room for room in ROOMS if within(name, room)), None)


def is_entry_point(name: str) -> bool:
    room = room_of(name)
    return room is not None and name[len(room) + 1:].split(".")[0] in ENTRY_POINT_NAMES


def is_models(name: str) -> bool:
    """Whether ``name`` is a room's models module, or a name in one."""
    room = room_of(name)
    return room is not None and name[len(room) + 1:].split(".")[0] == "models"


def report(violations: list[Import], rule: str) -> str:
    """One line per module imported: ``from payments.shop.views import cart`` yields both
    ``payments.shop.views`` and ``payments.shop.views.cart``, reported once as
    ``payments.shop.views``."""
    lines: dict[tuple[str, int, str], str] = {}
    for v in violations:
        top = _top_of(v.target)
        key = (v.path, v.line, top)
        lines.setdefault(key, f"{v.path}:{v.line} ({v.module}) imports {top}: `{v.statement}`")
    return f"{rule}:\n  " + "\n  ".join(lines.values())


@pytest.fixture(scope="module")
def app_imports() -> list[Import]:
    found = imports_under(*APP_PACKAGES)
    assert found, "no app modules found: is ROOT right?"
    return found


# --- the rules -----------------------------------------------------------------------------

def stripe_violations(imports: list[Import]) -> list[Import]:
    return [i for i in imports
            if (within(i.target, "stripe") and i.module not in (STRIPE_ONLY_IN, STRIPE_TRANSPORT))
            or (i.target == STRIPE_TRANSPORT and i.module != STRIPE_ONLY_IN)]


def room_violations(imports: list[Import]) -> list[Import]:
    """A room importing a room it may not (one above it, or beside it), or what wires
    the rooms together (payments.models, the admin, the project...)."""
    found = []
    for i in imports:
        room = room_of(i.module)
        if room is None or within(i.target, OUTSIDE_RULES):
            continue
        target_room = room_of(i.target)
        if target_room is not None and target_room != room and target_room not in ROOMS[room]:
            found.append(i)
        elif target_room is None and within(i.target, WIRING) or i.target == "payments":
            found.append(i)
    return found


def entry_point_violations(imports: list[Import]) -> list[Import]:
    """A service importing a view, task, receiver or webhook view."""
    return [i for i in imports if room_of(i.module) and not is_entry_point(i.module)
            and is_entry_point(i.target)]


def models_violations(imports: list[Import]) -> list[Import]:
    """A models module importing anything of ours but other models and the facts."""
    return [i for i in imports if is_models(i.module) and room_of(i.target)
            and i.target not in ROOMS  # the room's package itself, as in "from x import y"
            and not is_models(i.target) and not within(i.target, MODELS_MAY_IMPORT)]


def sandbox_violations(imports: list[Import]) -> list[Import]:
    return [i for i in imports if within(i.target, SANDBOX_FORBIDDEN)]


def test_only_the_gateway_imports_stripe(app_imports):
    assert not stripe_violations(app_imports), report(
        stripe_violations(app_imports),
        "Only payments/stripe/gateway.py (and its transport) may import stripe; call the "
        "gateway instead")
    # and the check is not vacuous: the gateway is found and does import stripe
    assert any(i.module == STRIPE_ONLY_IN and i.target == "stripe" for i in app_imports)


def test_each_room_imports_only_the_rooms_below_it(app_imports):
    assert not room_violations(app_imports), report(
        room_violations(app_imports),
        "A room may import only the rooms ROOMS lists for it (tests/test_architecture.py), "
        "never payments.models, the admin or the project: move the code down, or let a "
        "signal of the lower room tell the upper one (payments.checkout.signals)")


def test_services_import_no_entry_point(app_imports):
    assert not entry_point_violations(app_imports), report(
        entry_point_violations(app_imports),
        "Services must not import views, tasks, receivers or webhook views: the entry "
        "point calls the service, not the other way round")


def test_models_import_no_service(app_imports):
    assert not models_violations(app_imports), report(
        models_violations(app_imports),
        "A models module imports only other models and payments.stripe.facts")


def test_the_modules_the_rules_name_exist(app_imports):
    """The rules are defined by name: fail if a room or module they rely on moved away,
    rather than let a rule pass for want of modules."""
    modules = {i.module for i in app_imports}
    for room in ROOMS:
        assert any(within(module, room) for module in modules), f"{room} is gone"
    for name in ("payments.models", "payments.stripe.gateway", "payments.stripe.facts",
                 STRIPE_TRANSPORT,
                 "payments.checkout.status", "payments.checkout.views",
                 "payments.checkout.services", "payments.checkout.signals",
                 "payments.monitoring.tasks", "payments.monitoring.receivers",
                 "payments.monitoring.observe", "payments.monitoring.incidents",
                 "payments.monitoring.scans", "payments.recovery.actions",
                 "payments.mail.receipts", "payments.admin", "paymentsite.admin"):
        assert name in modules, f"{name} is gone: update tests/test_architecture.py"
    assert is_entry_point("payments.monitoring.tasks")
    assert not is_entry_point("payments.monitoring.scans")
    assert is_models("payments.checkout.models") and not is_models("payments.models")


@dataclass(frozen=True)
class Write:
    model: str
    module: str
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.module}) writes {self.model}"


def writes_in_source(source: str, *, module: str, path: str) -> list[Write]:
    """Every query set write on a chain that starts at one of ``WRITERS``' models."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in WRITE_METHODS):
            continue
        root = node.func.value
        while isinstance(root, ast.Attribute | ast.Call):
            root = root.value if isinstance(root, ast.Attribute) else root.func
        if isinstance(root, ast.Name) and root.id in WRITERS:
            found.append(Write(root.id, module, path, node.lineno))
    return found


def write_violations() -> list[Write]:
    found = []
    for package in APP_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = module_name(path, ROOT)
            if within(module, OUTSIDE_RULES):
                continue
            found += [write for write in writes_in_source(
                path.read_text(encoding="utf-8"), module=module,
                path=str(path.relative_to(ROOT))) if module not in WRITERS[write.model]]
    return found


def test_each_record_has_one_writer():
    violations = write_violations()
    assert not violations, "Write these records through their writer's functions (" + \
        "; ".join(f"{model}: {', '.join(modules)}" for model, modules in WRITERS.items()) + \
        "):\n  " + "\n  ".join(map(str, violations))
    # and the check is not vacuous: the writers are found writing
    incidents = ROOT / "payments/monitoring/incidents.py"
    assert writes_in_source(incidents.read_text(encoding="utf-8"),
                            module="payments.monitoring.incidents", path=str(incidents))


@pytest.mark.parametrize(("source", "model"), [
    ("Incident.objects.filter(pk=1).update(status='handled')", "Incident"),
    ("Incident.objects.create(stripe_id='pi')", "Incident"),
    ("Incident._base_manager.filter(kind=k).exclude(pk=2).delete()", "Incident"),
    ("PaymentEvent.objects.bulk_create(rows)", "PaymentEvent"),
    ("def f():\n    PaymentAttempt.objects.filter(pk=1).update(status='x')", "PaymentAttempt"),
])
def test_the_checker_sees_a_write(source, model):
    assert [write.model for write in writes_in_source(source, module="m", path="m.py")] \
        == [model]


@pytest.mark.parametrize("source", [
    "Incident.objects.filter(pk=1).count()",
    "Incident.objects.filter(pk=1).values('pk')",
    "Order.objects.filter(pk=1).update(status='paid')",
    "incidents.update(rows)",
])
def test_the_checker_leaves_reads_and_other_records(source):
    assert writes_in_source(source, module="m", path="m.py") == []


def test_the_sandbox_imports_no_django_and_nothing_of_the_site():
    found = imports_under("stripe_sandbox")
    assert any(i.module == "stripe_sandbox.server" for i in found)
    assert not sandbox_violations(found), report(
        sandbox_violations(found),
        "stripe_sandbox stands alone (a stand-in for Stripe): no Django, dj-stripe or "
        "Celery, nothing of payments/, paymentsite/ or tests/")


def _top_of(target: str) -> str:
    """The app module a target names (``payments.mail.receipts.order_receipt_send`` ->
    ``payments.mail.receipts``; ``payments.management.commands.x`` ->
    ``payments.management``)."""
    parts = target.split(".")
    if room_of(target) is not None:
        return ".".join(parts[:3])
    return ".".join(parts[:2]) if parts[0] in APP_PACKAGES else target


# --- the checker itself: each spelling of an import is caught ------------------------------

@pytest.mark.parametrize("source", [
    "import stripe",
    "import stripe.error",
    "import stripe as s",
    "from stripe import StripeClient",
    "from stripe.params import PaymentIntentCreateParams",
    "def later():\n    import stripe\n",
    "try:\n    from stripe import error\nexcept ImportError:\n    pass\n",
    "import importlib\nimportlib.import_module('stripe')",
    "from importlib import import_module\nimport_module('stripe')",
    "__import__('stripe')",
])
def test_the_checker_sees_every_way_of_importing_stripe(source):
    found = imports_in_source(source, module="payments.monitoring.scans",
                              path="payments/monitoring/scans.py")
    assert any(within(i.target, "stripe") for i in found), found


def test_the_checker_does_not_mistake_lookalikes_for_stripe():
    source = "import stripe_sandbox\nfrom payments import stripe_ids\nstripe = 1\n"
    found = imports_in_source(source, module="payments.monitoring.scans",
                              path="payments/monitoring/scans.py")
    assert not any(within(i.target, "stripe") for i in found), found


@pytest.mark.parametrize(("source", "module", "is_package", "target"), [
    ("from . import views", "payments.checkout.services", False, "payments.checkout.views"),
    ("from .views import pay", "payments.checkout.services", False, "payments.checkout.views"),
    ("from ..monitoring import tasks", "payments.checkout.status", False,
     "payments.monitoring.tasks"),
    ("from ... import tasks", "payments.management.commands", True, "payments.tasks"),
    ("from .. import tasks", "payments.management.commands", True,
     "payments.management.tasks"),
    ("from ...admin import x", "payments.management.commands.scan", False, "payments.admin"),
    ("from payments.monitoring import tasks", "payments.shop.models", False,
     "payments.monitoring.tasks"),
])
def test_the_checker_resolves_relative_and_from_imports(source, module, is_package, target):
    found = imports_in_source(source, module=module, path="x.py", is_package=is_package)
    assert target in {i.target for i in found}, found


def test_a_violation_names_the_file_line_and_import():
    found = imports_in_source("import os\nfrom payments.views import pay\n",
                              module="payments.models", path="payments/models.py")
    violation = next(i for i in found if i.target == "payments.views")
    assert str(violation) == ("payments/models.py:2 (payments.models) imports payments.views: "
                              "`from payments.views import pay`")


@pytest.mark.parametrize(("module", "source", "rule"), [
    ("payments.monitoring.scans", "import stripe", stripe_violations),
    ("paymentsite.settings", "from stripe import StripeClient", stripe_violations),
    # a room importing upward, sideways, or the wiring
    ("payments.stripe.gateway", "from payments.monitoring import observe", room_violations),
    ("payments.checkout.services", "from payments.monitoring import incidents",
     room_violations),
    ("payments.checkout.status", "def f():\n    from payments.monitoring import tasks",
     room_violations),
    ("payments.checkout.services", "from ..monitoring.scans import scan_stale",
     room_violations),
    ("payments.mail.receipts", "from payments.checkout.models import PaymentAttempt",
     room_violations),
    ("payments.shop.orders", "from payments.models import Order", room_violations),
    ("payments.recovery.actions", "from payments import admin", room_violations),
    ("payments.monitoring.scans", "from payments.management.commands import payments_scan",
     room_violations),
    ("payments.stripe.gateway", "from paymentsite.settings import X", room_violations),
    # the gateway's transport is the gateway's alone
    ("payments.checkout.services", "from payments.stripe import transport", stripe_violations),
    ("payments.stripe.budget", "from payments.stripe.transport import Urllib3Client",
     stripe_violations),
    # a service importing an entry point
    ("payments.monitoring.observe", "from payments.monitoring.tasks import scan_stale_task",
     entry_point_violations),
    ("payments.recovery.links", "from payments.recovery.views import recover",
     entry_point_violations),
    ("payments.monitoring.scans", "from payments.mail import receivers",
     entry_point_violations),
    # models importing a service
    ("payments.checkout.models", "from payments.checkout.status import RECORDED_FIELDS",
     models_violations),
    ("payments.monitoring.models", "from payments.stripe import gateway", models_violations),
    ("stripe_sandbox.state", "from django.conf import settings", sandbox_violations),
    ("stripe_sandbox.app", "import payments.models", sandbox_violations),
])
def test_each_rule_catches_its_violation(module, source, rule):
    found = imports_in_source(source, module=module, path=module.replace(".", "/") + ".py")
    assert rule(found), f"{rule.__name__} missed {source!r} in {module}"


@pytest.mark.parametrize(("module", "source"), [
    ("payments.stripe.gateway", "import stripe"),
    ("payments.stripe.transport", "import stripe"),
    ("payments.stripe.gateway", "from payments.stripe import budget, transport"),
    ("payments.monitoring.scans", "from payments.checkout.services import checkout_finalize"),
    ("payments.checkout.views", "from payments.checkout import services"),
    ("payments.monitoring.tasks", "from payments.monitoring import scans"),
    ("payments.monitoring.receivers", "from payments.monitoring import tasks"),
    ("payments.monitoring.observe", "from payments.checkout.status import payment_status_record"),
    ("payments.recovery.actions", "from payments.monitoring import refresh"),
    ("payments.monitoring.models", "from payments.stripe.facts import FailureKind"),
    ("payments.monitoring.models", "from payments.checkout.models import PaymentAttempt"),
    ("payments.admin.ops", "from payments.recovery import actions"),
    ("payments.models", "from payments.recovery.models import OpsAction"),
    ("stripe_sandbox.server", "import uvicorn"),
])
def test_the_rules_allow_what_the_design_allows(module, source):
    found = imports_in_source(source, module=module, path=module.replace(".", "/") + ".py")
    for rule in (stripe_violations, room_violations, entry_point_violations,
                 models_violations):
        assert not rule(found), (rule.__name__, source)
    if module.startswith("stripe_sandbox"):
        assert not sandbox_violations(found)


def test_a_report_lists_each_imported_module_once():
    found = imports_in_source(
        "from payments.monitoring.scans import scan_stale\n"
        "from payments.monitoring import scans, tasks\n",
        module="payments.checkout.status", path="payments/checkout/status.py")
    assert report(room_violations(found), "rule") == (
        "rule:\n"
        "  payments/checkout/status.py:1 (payments.checkout.status) imports "
        "payments.monitoring.scans: `from payments.monitoring.scans import scan_stale`\n"
        "  payments/checkout/status.py:2 (payments.checkout.status) imports "
        "payments.monitoring: `from payments.monitoring import scans, tasks`\n"
        "  payments/checkout/status.py:2 (payments.checkout.status) imports "
        "payments.monitoring.scans: `from payments.monitoring import scans, tasks`\n"
        "  payments/checkout/status.py:2 (payments.checkout.status) imports "
        "payments.monitoring.tasks: `from payments.monitoring import scans, tasks`")
