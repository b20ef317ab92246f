# Why a ledger row exists when it is our decision, not Stripe's fact.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0014_recovery_link_opened'),
    ]

    operations = [
        migrations.AddField(
            model_name='paymentevent',
            name='note',
            field=models.CharField(blank=True, max_length=255),
        ),
    ]
