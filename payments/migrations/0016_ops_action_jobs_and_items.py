"""Ops actions as jobs: a status (issued with its confirmation page, queued, at work,
done, failed), when submitted and finished, and one item per payment with its result.
Actions recorded before were run in the request, done by the time they were stored."""

import uuid

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import F


def actions_recorded_done(apps, schema_editor):
    ops_action = apps.get_model("payments", "OpsAction")
    ops_action.objects.update(submitted_at=F("created_at"), finished_at=F("created_at"),
                              status="done")
    # A request that died mid-way left its record without a summary ("still at work").
    ops_action.objects.filter(summary="").update(status="failed",
                                                    summary="stopped before it finished")


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0015_payment_event_note'),
    ]

    operations = [
        migrations.CreateModel(
            name='OpsActionItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveIntegerField(default=0)),
                ('version', models.CharField(max_length=255)),
                ('result', models.CharField(choices=[('pending', 'Waiting'), ('done', 'Done'), ('skipped', 'Skipped'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('detail', models.CharField(blank=True, max_length=255)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['ops_action', 'position'],
            },
        ),
        migrations.AddField(
            model_name='opsaction',
            name='finished_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='opsaction',
            name='status',
            field=models.CharField(choices=[('issued', 'Shown, not submitted'), ('queued', 'Waiting for a worker'), ('running', 'At work'), ('done', 'Done'), ('failed', 'Stopped by an error')], default='issued', max_length=16),
        ),
        migrations.AddField(
            model_name='opsaction',
            name='submitted_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='id',
            field=models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
        ),
        migrations.AddField(
            model_name='opsactionitem',
            name='incident',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='ops_items', to='payments.incident'),
        ),
        migrations.AddField(
            model_name='opsactionitem',
            name='ops_action',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='payments.opsaction'),
        ),
        migrations.AddConstraint(
            model_name='opsactionitem',
            constraint=models.UniqueConstraint(fields=('ops_action', 'incident'), name='ops_action_item_once'),
        ),
        migrations.RunPython(actions_recorded_done, migrations.RunPython.noop),
    ]
