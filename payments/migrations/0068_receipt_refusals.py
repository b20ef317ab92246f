"""A receipt the mail server refuses is counted and tried again after a growing wait, so
refused addresses cannot hold the receipts due behind them (``payments.mail.receipts``)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0067_admin_amount_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="receipt_refusals",
            field=models.PositiveSmallIntegerField(default=0, verbose_name="receipt refusals"),
        ),
        migrations.AddField(
            model_name="order",
            name="receipt_retry_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="receipt retry at"),
        ),
    ]
