from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from payments import gateway

        setting_changed.connect(gateway.client_reset_on_setting_change)
        from payments import receivers  # noqa: F401  (connects dj-stripe's signals)
