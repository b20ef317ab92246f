"""Incidents: card declines as a kind of their own, and dated by when the payment was
made (Stripe's `created`, indexed for the dashboard's periods); an incident stored
without it is dated by when it was first seen."""

from django.db import migrations, models
from django.db.models import F


def payment_made_known(apps, schema_editor):
    apps.get_model("payments", "Incident").objects.filter(intent_created_at__isnull=True) \
        .update(intent_created_at=F("first_seen_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0016_ops_action_jobs_and_items'),
    ]

    operations = [
        migrations.AlterField(
            model_name='incident',
            name='intent_created_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='payment made'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='kind',
            field=models.CharField(choices=[('requires_action_not_handled', '3-D Secure not handled'), ('authentication_failed', 'Authentication failed'), ('action_abandoned', "Left at the bank's challenge"), ('confirmation_abandoned', 'Authenticated, never confirmed'), ('expired', 'Expired unconfirmed'), ('card_declined', 'Card declined')], max_length=32),
        ),
        migrations.AddIndex(
            model_name='incident',
            index=models.Index(fields=['intent_created_at'], name='payments_in_intent__f85387_idx'),
        ),
        migrations.AddIndex(
            model_name='incident',
            index=models.Index(fields=['kind', 'intent_created_at'], name='payments_in_kind_3cb720_idx'),
        ),
        migrations.RunPython(payment_made_known, migrations.RunPython.noop),
    ]
