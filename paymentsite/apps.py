from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PaymentsiteConfig(AppConfig):
    """The project itself as an app, so its system checks are registered at start-up."""

    name = "paymentsite"
    verbose_name = "Payment site"

    def ready(self) -> None:
        from paymentsite import checks, signin  # noqa: F401 - registers checks, receivers


class PaymentsAdminConfig(admin_apps.AdminConfig):
    """Django's admin, with ``admin.site`` an instance of ``paymentsite.admin``'s site;
    installed in its place (``paymentsite.settings``)."""

    default = False  # "paymentsite" in INSTALLED_APPS means PaymentsiteConfig
    default_site = "paymentsite.admin.PaymentsAdminSite"
