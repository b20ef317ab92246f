from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"
    verbose_name = _("Payments")  # the admin's breadcrumbs and index, in the reader's language

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from payments.stripe import gateway

        setting_changed.connect(gateway.client_reset_on_setting_change)
        # Each room's signal receivers and Celery tasks (Celery's autodiscovery looks
        # only at payments.tasks, which no longer exists).
        from payments.mail import tasks  # noqa: F401
        from payments.monitoring import receivers, tasks  # noqa: F401, F811
        from payments.recovery import tasks  # noqa: F401, F811

