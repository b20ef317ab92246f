"""The project's architecture, checked (DESIGN.md, "Architecture" and "Rules of the house").

1. ``payments/gateway.py`` is the only app module that imports ``stripe``.
2. Dependencies point one way: entry points (views, tasks, receivers, admin, webhooks,
   urls, management commands, the project package) -> services (checkout, monitoring,
   scans, orders, cart, emails, recovery, ...) -> the base (models, gateway,
   payment_status). The base imports no entry point and no service; a service imports no
   entry point.
3. ``stripe_sandbox`` is a stand-alone Stripe: no Django, nothing of the site.

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

# Layers of the app, by module name (a name also covers its submodules).
BASE = ("payments.models", "payments.shop.models", "payments.checkout.models",
        "payments.monitoring.models", "payments.recovery.models", "payments.stripe.gateway",
        "payments.checkout.status")
ENTRY_POINTS = (
    "payments.shop.views", "payments.checkout.views", "payments.recovery.views",
    "payments.monitoring.tasks", "payments.mail.tasks",
    "payments.monitoring.receivers", "payments.mail.receivers",
    "payments.admin",  # the package: orders, incidents, ops, monitoring, dashboard, ...
    "payments.stripe.webhooks", "payments.urls", "payments.apps",
    "payments.shop.forms", "payments.templatetags", "payments.management",
    "paymentsite",  # settings, urls, the Celery app, wsgi: the project wires the app
)
# Everything else in payments/ is a service, except what takes no part in the layers:
# migrations (history, frozen as written) and the package itself.
OUTSIDE_LAYERS = ("payments.migrations",)
# What the base must not import. The brief's list (views, tasks, receivers, admin, scans,
# monitoring, checkout) and the rest of the entry points and services.
BASE_MAY_IMPORT: set[tuple[str, str]] = set()  # none: the receipt hangs off a signal
STRIPE_ONLY_IN = "payments.stripe.gateway"
SANDBOX_FORBIDDEN = ("django", "djstripe", "payments", "paymentsite", "celery", "tests")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. "payments.scans"
    path: str  # its file, relative to the repository
    line: int
    target: str  # a module it imports (or may import), e.g. "payments.gateway"
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


def layer(name: str) -> str | None:
    if within(name, BASE):
        return "base"
    if within(name, ENTRY_POINTS):
        return "entry point"
    if name == "payments" or within(name, OUTSIDE_LAYERS):
        return None
    if within(name, "payments"):
        return "service"
    return None  # not ours: Django, dj-stripe, the standard library...


def report(violations: list[Import], rule: str) -> str:
    """One line per module imported: ``from payments.views import pay`` yields both
    ``payments.views`` and ``payments.views.pay``, reported once as ``payments.views``."""
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
    return [i for i in imports if within(i.target, "stripe") and i.module != STRIPE_ONLY_IN]


def base_violations(imports: list[Import]) -> list[Import]:
    return [i for i in imports
            if layer(i.module) == "base" and layer(i.target) in ("service", "entry point")
            and (i.module, _top_of(i.target)) not in BASE_MAY_IMPORT]


def service_violations(imports: list[Import]) -> list[Import]:
    return [i for i in imports
            if layer(i.module) == "service" and layer(i.target) == "entry point"]


def sandbox_violations(imports: list[Import]) -> list[Import]:
    return [i for i in imports if within(i.target, SANDBOX_FORBIDDEN)]


def test_only_the_gateway_imports_stripe(app_imports):
    assert not stripe_violations(app_imports), report(
        stripe_violations(app_imports),
        "Only payments/gateway.py may import stripe; call the gateway instead")
    # and the check is not vacuous: the gateway is found and does import stripe
    assert any(i.module == STRIPE_ONLY_IN and i.target == "stripe" for i in app_imports)


def test_the_base_imports_no_service_and_no_entry_point(app_imports):
    assert not base_violations(app_imports), report(
        base_violations(app_imports),
        "models, gateway and payment_status are the base: they must not import services or "
        "entry points (move the code up, or let the caller pass what is needed down)")


def test_services_import_no_entry_point(app_imports):
    assert not service_violations(app_imports), report(
        service_violations(app_imports),
        "Services must not import views, tasks, receivers, admin, webhooks, urls, forms, "
        "management commands or paymentsite (if the importing module is itself an entry "
        "point, add it to ENTRY_POINTS in tests/test_architecture.py)")


def test_the_modules_the_rules_name_exist(app_imports):
    """The layers above are defined by name: fail if a module they rely on moved away,
    rather than let a rule pass for want of modules."""
    modules = {i.module for i in app_imports}
    for name in ("payments.models", "payments.stripe.gateway", "payments.checkout.status",
                 "payments.checkout.views", "payments.monitoring.tasks",
                 "payments.monitoring.receivers", "payments.admin",
                 "payments.checkout.services", "payments.monitoring.observe",
                 "payments.monitoring.scans"):
        assert name in modules, f"{name} is gone: update the layers in tests/test_architecture.py"
    for service in ("payments.checkout.services", "payments.monitoring.observe",
                    "payments.monitoring.scans", "payments.shop.orders", "payments.shop.cart",
                    "payments.mail.receipts"):
        assert layer(service) == "service", service
    assert layer("payments.management.commands.payments_scan") == "entry point"
    # The admin is a package, some of its modules named like services
    # (payments.admin.orders, payments.admin.monitoring): each is an entry point.
    for name in ("payments.admin.orders", "payments.admin.monitoring",
                 "payments.admin.dashboard"):
        assert name in modules, f"{name} is gone: update tests/test_architecture.py"
        assert layer(name) == "entry point", name


def test_the_sandbox_imports_no_django_and_nothing_of_the_site():
    found = imports_under("stripe_sandbox")
    assert any(i.module == "stripe_sandbox.server" for i in found)
    assert not sandbox_violations(found), report(
        sandbox_violations(found),
        "stripe_sandbox stands alone (a stand-in for Stripe): no Django, dj-stripe or "
        "Celery, nothing of payments/, paymentsite/ or tests/")


def _top_of(target: str) -> str:
    """The app module a target names (``payments.emails.order_receipt_send`` ->
    ``payments.emails``; ``payments.management.commands.x`` -> ``payments.management``)."""
    parts = target.split(".")
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
    found = imports_in_source(source, module="payments.scans", path="payments/scans.py")
    assert any(within(i.target, "stripe") for i in found), found


def test_the_checker_does_not_mistake_lookalikes_for_stripe():
    source = "import stripe_sandbox\nfrom payments import stripe_ids\nstripe = 1\n"
    found = imports_in_source(source, module="payments.scans", path="payments/scans.py")
    assert not any(within(i.target, "stripe") for i in found), found


@pytest.mark.parametrize(("source", "module", "is_package", "target"), [
    ("from . import views", "payments.scans", False, "payments.views"),
    ("from .views import pay", "payments.scans", False, "payments.views"),
    ("from ... import tasks", "payments.management.commands", True, "payments.tasks"),
    ("from .. import tasks", "payments.management.commands", True,
     "payments.management.tasks"),
    ("from ...admin import x", "payments.management.commands.scan", False, "payments.admin"),
    ("from payments import tasks", "payments.models", False, "payments.tasks"),
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
    ("payments.scans", "import stripe", stripe_violations),
    ("paymentsite.settings", "from stripe import StripeClient", stripe_violations),
    ("payments.models", "from payments.views import pay", base_violations),
    ("payments.models", "from payments import scans", base_violations),
    ("payments.stripe.gateway", "from payments.monitoring import observe", base_violations),
    ("payments.checkout.status", "def f():\n    from payments.monitoring import tasks",
     base_violations),
    ("payments.checkout.status", "from .services import checkout_finalize", base_violations),
    ("payments.stripe.gateway", "from paymentsite.settings import X", base_violations),
    ("payments.monitoring.observe", "from payments.monitoring.tasks import intent_refresh_task",
     service_violations),
    ("payments.recovery.actions", "from payments import admin", service_violations),
    ("payments.monitoring.scans", "from payments.management.commands import payments_scan",
     service_violations),
    ("stripe_sandbox.state", "from django.conf import settings", sandbox_violations),
    ("stripe_sandbox.app", "import payments.models", sandbox_violations),
])
def test_each_rule_catches_its_violation(module, source, rule):
    found = imports_in_source(source, module=module, path=module.replace(".", "/") + ".py")
    assert rule(found), f"{rule.__name__} missed {source!r} in {module}"


@pytest.mark.parametrize(("module", "source"), [
    ("payments.stripe.gateway", "import stripe"),
    ("payments.monitoring.scans", "from payments.checkout import services"),
    ("payments.checkout.views", "from payments.checkout import services"),
    ("payments.monitoring.tasks", "from payments.monitoring import scans"),
    ("payments.monitoring.observe", "from payments.checkout.status import payment_status_record"),
    ("stripe_sandbox.server", "import uvicorn"),
])
def test_the_rules_allow_what_the_design_allows(module, source):
    found = imports_in_source(source, module=module, path=module.replace(".", "/") + ".py")
    for rule in (stripe_violations, base_violations, service_violations):
        assert not rule(found), (rule.__name__, source)
    if module.startswith("stripe_sandbox"):
        assert not sandbox_violations(found)


def test_a_report_lists_each_imported_module_once():
    found = imports_in_source("from payments.views import pay\nfrom payments import scans, tasks\n",
                              module="payments.models", path="payments/models.py")
    assert report(base_violations(found), "rule") == (
        "rule:\n"
        "  payments/models.py:1 (payments.models) imports payments.views: "
        "`from payments.views import pay`\n"
        "  payments/models.py:2 (payments.models) imports payments.scans: "
        "`from payments import scans, tasks`\n"
        "  payments/models.py:2 (payments.models) imports payments.tasks: "
        "`from payments import scans, tasks`")
