"""Orders remember the shopper's language, so the receipt and a recovery link's mail are
written in it; orders placed before are English, as the site was."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0052_dashboard_daily_totals"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="language",
            field=models.CharField(default="en", max_length=7),
        ),
    ]
