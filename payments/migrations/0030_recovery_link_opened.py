# Recovery links survive mail scanners: a GET counts the opening; a browser uses the link.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0010_receipts_late_schedule'),
    ]

    operations = [
        migrations.AddField(
            model_name='recoverylink',
            name='open_count',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='recoverylink',
            name='opened_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
