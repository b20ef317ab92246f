"""Reconciliation: its runs and the mismatches they find (payments.monitoring.reconcile)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0030_ops_actions_resume_schedule'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReconciliationRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('running', 'Running'), ('done', 'Done'), ('failed', 'Failed (Stripe kept failing; nothing resolved)'), ('skipped', 'Skipped (another run was under way)')], default='running', max_length=16)),
                ('trigger', models.CharField(choices=[('command', 'By hand (manage.py)'), ('beat', 'Daily (beat)')], max_length=16)),
                ('days', models.PositiveSmallIntegerField()),
                ('window_start', models.DateTimeField(help_text='Intents and charges created from here…')),
                ('window_end', models.DateTimeField(help_text='…to here (excluded).')),
                ('started_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('stripe_calls', models.PositiveIntegerField(default=0)),
                ('intents_compared', models.PositiveIntegerField(default=0)),
                ('intents_outside', models.PositiveIntegerField(default=0, help_text='Intents of the window made outside this checkout (no order).')),
                ('charges_compared', models.PositiveIntegerField(default=0)),
                ('attempts_compared', models.PositiveIntegerField(default=0)),
                ('orders_paid', models.PositiveIntegerField(default=0, help_text='Orders of the window paid here.')),
                ('mismatches_found', models.PositiveIntegerField(default=0)),
                ('mismatches_new', models.PositiveIntegerField(default=0)),
                ('mismatches_resolved', models.PositiveIntegerField(default=0)),
                ('mailed', models.PositiveIntegerField(default=0, help_text='Ops mails sent.')),
                ('errors', models.TextField(blank=True)),
            ],
            options={
                'ordering': ['-started_at'],
            },
        ),
        migrations.CreateModel(
            name='ReconciliationMismatch',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('charged_twice', 'Charged twice'), ('paid_at_stripe_only', 'Paid at Stripe, not here'), ('paid_here_only', 'Paid here, not at Stripe'), ('amount_differs', 'Amount differs'), ('status_differs', 'Status differs')], max_length=32)),
                ('subject', models.CharField(max_length=255)),
                ('stripe_id', models.CharField(blank=True, max_length=255, verbose_name='PaymentIntent')),
                ('charge_ids', models.JSONField(blank=True, default=list, help_text="The charges that took the shopper's money.")),
                ('amount_here', models.PositiveIntegerField(blank=True, help_text="The order's, in minor units.", null=True)),
                ('amount_at_stripe', models.PositiveIntegerField(blank=True, help_text='Taken at Stripe, in minor units.', null=True)),
                ('currency', models.CharField(blank=True, max_length=3)),
                ('status_here', models.CharField(blank=True, max_length=32)),
                ('status_at_stripe', models.CharField(blank=True, max_length=32)),
                ('occurred_at', models.DateTimeField(verbose_name='payment made')),
                ('first_found_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('last_found_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('resolved', models.BooleanField(default=False)),
                ('resolved_at', models.DateTimeField(blank=True, null=True)),
                ('mailed_at', models.DateTimeField(blank=True, help_text='When ops were mailed about it.', null=True)),
                ('attempt', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='mismatches', to='payments.paymentattempt')),
                ('order', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='mismatches', to='payments.order')),
                ('first_run', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='mismatches_first_found', to='payments.reconciliationrun')),
                ('last_run', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='mismatches_last_found', to='payments.reconciliationrun')),
            ],
            options={
                'verbose_name_plural': 'reconciliation mismatches',
                'ordering': ['resolved', '-first_found_at'],
                'indexes': [models.Index(fields=['resolved', 'occurred_at'], name='payments_re_resolve_ecd8de_idx')],
                'constraints': [models.UniqueConstraint(fields=('kind', 'subject'), name='mismatch_one_per_finding')],
            },
        ),
    ]
