from django.apps import AppConfig


class PaymentsiteConfig(AppConfig):
    """The project itself as an app, so its system checks are registered at start-up."""

    name = "paymentsite"
    verbose_name = "Payment site"

    def ready(self) -> None:
        from paymentsite import checks  # noqa: F401 - registers the checks
