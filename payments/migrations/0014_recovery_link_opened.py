# Recovery links survive mail scanners: a GET counts the opening; a browser uses the link.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0013_webhook_events_for_ops'),
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
