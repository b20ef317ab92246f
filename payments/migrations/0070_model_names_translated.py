"""The models' and fields' names, help texts and choice labels marked for translation
(issue 19: the admin in the staff's language). Django records them in migrations but
writes no SQL for them: every operation here is a no-op in the database."""

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import payments.shop.models


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0068_receipt_refusals"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='dailytotal',
            options={'verbose_name': 'daily total', 'verbose_name_plural': 'daily totals'},
        ),
        migrations.AlterModelOptions(
            name='incident',
            options={'ordering': ['-first_seen_at'], 'permissions': [('view_dashboard', 'Can view the failed payments dashboard'), ('export_incident', 'Can export failed payments as CSV'), ('confirm_payment', 'Can confirm an authenticated payment'), ('send_recovery_link', 'Can send a shopper a link to finish paying'), ('cancel_payment', 'Can cancel a payment and its order'), ('refresh_payment', 'Can refresh a payment from Stripe')], 'verbose_name': 'incident', 'verbose_name_plural': 'incidents'},
        ),
        migrations.AlterModelOptions(
            name='opsaction',
            options={'ordering': ['-created_at'], 'verbose_name': 'ops action', 'verbose_name_plural': 'ops actions'},
        ),
        migrations.AlterModelOptions(
            name='opsactionitem',
            options={'ordering': ['ops_action', 'position'], 'verbose_name': 'ops action item', 'verbose_name_plural': 'ops action items'},
        ),
        migrations.AlterModelOptions(
            name='order',
            options={'ordering': ['-created_at'], 'verbose_name': 'order', 'verbose_name_plural': 'orders'},
        ),
        migrations.AlterModelOptions(
            name='orderline',
            options={'verbose_name': 'order line', 'verbose_name_plural': 'order lines'},
        ),
        migrations.AlterModelOptions(
            name='paymentattempt',
            options={'ordering': ['-created_at'], 'verbose_name': 'payment attempt', 'verbose_name_plural': 'payment attempts'},
        ),
        migrations.AlterModelOptions(
            name='paymentevent',
            options={'ordering': ['created_at', 'id'], 'verbose_name': 'payment event', 'verbose_name_plural': 'payment events'},
        ),
        migrations.AlterModelOptions(
            name='product',
            options={'ordering': ['name'], 'verbose_name': 'product', 'verbose_name_plural': 'products'},
        ),
        migrations.AlterModelOptions(
            name='reconciliationmismatch',
            options={'ordering': ['resolved', '-first_found_at'], 'verbose_name': 'reconciliation mismatch', 'verbose_name_plural': 'reconciliation mismatches'},
        ),
        migrations.AlterModelOptions(
            name='reconciliationrun',
            options={'ordering': ['-started_at'], 'verbose_name': 'reconciliation run', 'verbose_name_plural': 'reconciliation runs'},
        ),
        migrations.AlterModelOptions(
            name='recoverylink',
            options={'ordering': ['-created_at'], 'verbose_name': 'recovery link', 'verbose_name_plural': 'recovery links'},
        ),
        migrations.AlterModelOptions(
            name='scancursor',
            options={'verbose_name': 'scan cursor', 'verbose_name_plural': 'scan cursors'},
        ),
        migrations.AlterModelOptions(
            name='scanlock',
            options={'verbose_name': 'scan lock', 'verbose_name_plural': 'scan locks'},
        ),
        migrations.AlterModelOptions(
            name='scanrun',
            options={'ordering': ['-started_at'], 'verbose_name': 'scan run', 'verbose_name_plural': 'scan runs'},
        ),
        migrations.AlterModelOptions(
            name='webhookevent',
            options={'ordering': ['-received_at'], 'verbose_name': 'webhook event', 'verbose_name_plural': 'webhook events'},
        ),
        migrations.AlterField(
            model_name='dailytotal',
            name='amount',
            field=models.BigIntegerField(default=0, help_text='In minor units of ``currency``.', verbose_name='amount'),
        ),
        migrations.AlterField(
            model_name='dailytotal',
            name='count',
            field=models.IntegerField(default=0, verbose_name='count'),
        ),
        migrations.AlterField(
            model_name='dailytotal',
            name='currency',
            field=models.CharField(max_length=3, verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='dailytotal',
            name='day',
            field=models.DateField(verbose_name='day'),
        ),
        migrations.AlterField(
            model_name='dailytotal',
            name='measure',
            field=models.CharField(max_length=16, verbose_name='measure'),
        ),
        migrations.AlterField(
            model_name='dailytotal',
            name='status',
            field=models.CharField(blank=True, max_length=16, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='dailytotal',
            name='value',
            field=models.CharField(blank=True, max_length=64, verbose_name='value'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='amount',
            field=models.PositiveIntegerField(help_text='In minor units.', verbose_name='amount'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='attempt',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='incidents', to='payments.paymentattempt', verbose_name='attempt'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='card_brand',
            field=models.CharField(blank=True, max_length=32, verbose_name='card brand'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='card_country',
            field=models.CharField(blank=True, max_length=2, verbose_name='card country'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='card_last4',
            field=models.CharField(blank=True, max_length=4, verbose_name='card last4'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='currency',
            field=models.CharField(max_length=3, verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='customer_email',
            field=models.CharField(blank=True, max_length=254, verbose_name='customer email'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='decline_code',
            field=models.CharField(blank=True, max_length=64, verbose_name='decline code'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='error_code',
            field=models.CharField(blank=True, max_length=64, verbose_name='error code'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='error_message',
            field=models.TextField(blank=True, verbose_name='error message'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='first_seen_at',
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name='first seen at'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='intent_status',
            field=models.CharField(help_text='As last seen at Stripe.', max_length=32, verbose_name='intent status'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='kind',
            field=models.CharField(choices=[('requires_action_not_handled', '3-D Secure not handled'), ('authentication_failed', 'Authentication failed'), ('action_abandoned', "Left at the bank's challenge"), ('confirmation_abandoned', 'Authenticated, never confirmed'), ('expired', 'Expired unconfirmed'), ('card_declined', 'Card declined')], max_length=32, verbose_name='kind'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='last_seen_at',
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name='last seen at'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='order',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='incidents', to='payments.order', verbose_name='order'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='resolved_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='resolved at'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='source',
            field=models.CharField(help_text='What found it: webhook or scan.', max_length=16, verbose_name='source'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='status',
            field=models.CharField(choices=[('open', 'Open'), ('recovered', 'Recovered (paid later)'), ('auto_finalized', 'Auto-finalized'), ('canceled', 'Canceled'), ('lost', 'Lost')], default='open', max_length=16, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='created_at',
            field=models.DateTimeField(auto_now_add=True, db_index=True, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='done',
            field=models.PositiveIntegerField(default=0, verbose_name='done'),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='finished_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='finished at'),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='id',
            field=models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False, verbose_name='id'),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='kind',
            field=models.CharField(choices=[('confirm', 'Confirm now'), ('send_link', 'Send authentication link'), ('cancel', 'Cancel'), ('refresh', 'Refresh from Stripe')], max_length=16, verbose_name='kind'),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='reason',
            field=models.CharField(blank=True, max_length=32, verbose_name='reason'),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='requested',
            field=models.PositiveIntegerField(default=0, verbose_name='requested'),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='skipped',
            field=models.PositiveIntegerField(default=0, verbose_name='skipped'),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='status',
            field=models.CharField(choices=[('issued', 'Shown, not submitted'), ('queued', 'Waiting for a worker'), ('running', 'At work'), ('done', 'Done'), ('failed', 'Stopped by an error')], default='issued', max_length=16, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='submitted_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='submitted at'),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='summary',
            field=models.TextField(blank=True, verbose_name='summary'),
        ),
        migrations.AlterField(
            model_name='opsaction',
            name='user',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='user'),
        ),
        migrations.AlterField(
            model_name='opsactionitem',
            name='detail',
            field=models.CharField(blank=True, max_length=255, verbose_name='detail'),
        ),
        migrations.AlterField(
            model_name='opsactionitem',
            name='finished_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='finished at'),
        ),
        migrations.AlterField(
            model_name='opsactionitem',
            name='incident',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='ops_items', to='payments.incident', verbose_name='incident'),
        ),
        migrations.AlterField(
            model_name='opsactionitem',
            name='ops_action',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='payments.opsaction', verbose_name='ops action'),
        ),
        migrations.AlterField(
            model_name='opsactionitem',
            name='position',
            field=models.PositiveIntegerField(default=0, verbose_name='position'),
        ),
        migrations.AlterField(
            model_name='opsactionitem',
            name='result',
            field=models.CharField(choices=[('pending', 'Waiting'), ('done', 'Done'), ('skipped', 'Skipped'), ('failed', 'Failed')], default='pending', max_length=16, verbose_name='result'),
        ),
        migrations.AlterField(
            model_name='opsactionitem',
            name='version',
            field=models.CharField(max_length=255, verbose_name='version'),
        ),
        migrations.AlterField(
            model_name='order',
            name='amount',
            field=models.PositiveIntegerField(help_text='In minor units, computed from the lines.', verbose_name='amount'),
        ),
        migrations.AlterField(
            model_name='order',
            name='created_at',
            field=models.DateTimeField(auto_now_add=True, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='order',
            name='currency',
            field=models.CharField(max_length=3, verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='order',
            name='email',
            field=models.EmailField(max_length=254, verbose_name='email'),
        ),
        migrations.AlterField(
            model_name='order',
            name='language',
            field=models.CharField(default='en', max_length=7, verbose_name='language'),
        ),
        migrations.AlterField(
            model_name='order',
            name='paid_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='paid at'),
        ),
        migrations.AlterField(
            model_name='order',
            name='receipt_sent_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='receipt sent at'),
        ),
        migrations.AlterField(
            model_name='order',
            name='reference',
            field=models.CharField(default=payments.shop.models.order_reference_new, editable=False, max_length=24, unique=True, verbose_name='reference'),
        ),
        migrations.AlterField(
            model_name='order',
            name='session_hash',
            field=models.CharField(blank=True, db_index=True, max_length=32, verbose_name='session hash'),
        ),
        migrations.AlterField(
            model_name='order',
            name='status',
            field=models.CharField(choices=[('open', 'Awaiting payment'), ('paid', 'Paid'), ('canceled', 'Canceled')], default='open', max_length=16, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='orderline',
            name='name',
            field=models.CharField(help_text="The product's name when ordered.", max_length=200, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='orderline',
            name='order',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='payments.order', verbose_name='order'),
        ),
        migrations.AlterField(
            model_name='orderline',
            name='product',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='payments.product', verbose_name='product'),
        ),
        migrations.AlterField(
            model_name='orderline',
            name='quantity',
            field=models.PositiveIntegerField(verbose_name='quantity'),
        ),
        migrations.AlterField(
            model_name='orderline',
            name='unit_price',
            field=models.PositiveIntegerField(help_text='In minor units, when ordered.', verbose_name='unit price'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='amount',
            field=models.PositiveIntegerField(verbose_name='amount'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='card_brand',
            field=models.CharField(blank=True, max_length=32, verbose_name='card brand'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='card_country',
            field=models.CharField(blank=True, max_length=2, verbose_name='card country'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='card_last4',
            field=models.CharField(blank=True, max_length=4, verbose_name='card last4'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='confirmation_method',
            field=models.CharField(max_length=16, verbose_name='confirmation method'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='confirmations',
            field=models.PositiveIntegerField(default=0, verbose_name='confirmations'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='create_payment_method',
            field=models.CharField(max_length=255, verbose_name='create payment method'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='create_requested_at',
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name='create requested at'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='created_at',
            field=models.DateTimeField(auto_now_add=True, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='currency',
            field=models.CharField(max_length=3, verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='final_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='final at'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='last_decline_code',
            field=models.CharField(blank=True, max_length=64, verbose_name='last decline code'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='last_error_code',
            field=models.CharField(blank=True, max_length=64, verbose_name='last error code'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='last_error_message',
            field=models.TextField(blank=True, verbose_name='last error message'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='latest_charge',
            field=models.CharField(blank=True, max_length=255, verbose_name='latest charge'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='number',
            field=models.PositiveSmallIntegerField(help_text="1 for the order's first intent.", verbose_name='number'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='order',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='attempts', to='payments.order', verbose_name='order'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='outcome_lost_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='outcome lost at'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='requires_action_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='requires action at'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='requires_confirmation_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='requires confirmation at'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='status',
            field=models.CharField(choices=[('creating', 'Creating (outcome unknown)'), ('requires_payment_method', 'Requires payment method'), ('requires_confirmation', 'Requires confirmation'), ('requires_action', 'Requires action'), ('processing', 'Processing'), ('requires_capture', 'Requires capture'), ('canceled', 'Canceled'), ('succeeded', 'Succeeded'), ('missing', 'Unknown to Stripe')], default='creating', max_length=32, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='status_observed_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='status observed at'),
        ),
        migrations.AlterField(
            model_name='paymentattempt',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, verbose_name='updated at'),
        ),
        migrations.AlterField(
            model_name='paymentevent',
            name='actor',
            field=models.CharField(help_text='Who reported it: a session, a user, a Stripe event id, a task.', max_length=255, verbose_name='actor'),
        ),
        migrations.AlterField(
            model_name='paymentevent',
            name='applied',
            field=models.BooleanField(default=True, verbose_name='applied'),
        ),
        migrations.AlterField(
            model_name='paymentevent',
            name='attempt',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='events', to='payments.paymentattempt', verbose_name='attempt'),
        ),
        migrations.AlterField(
            model_name='paymentevent',
            name='created_at',
            field=models.DateTimeField(auto_now_add=True, db_index=True, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='paymentevent',
            name='decline_code',
            field=models.CharField(blank=True, max_length=64, verbose_name='decline code'),
        ),
        migrations.AlterField(
            model_name='paymentevent',
            name='error_code',
            field=models.CharField(blank=True, max_length=64, verbose_name='error code'),
        ),
        migrations.AlterField(
            model_name='paymentevent',
            name='from_status',
            field=models.CharField(max_length=32, verbose_name='from status'),
        ),
        migrations.AlterField(
            model_name='paymentevent',
            name='note',
            field=models.CharField(blank=True, max_length=255, verbose_name='note'),
        ),
        migrations.AlterField(
            model_name='paymentevent',
            name='observed_at',
            field=models.DateTimeField(blank=True, help_text='When Stripe stated this fact.', null=True, verbose_name='observed at'),
        ),
        migrations.AlterField(
            model_name='paymentevent',
            name='source',
            field=models.CharField(choices=[('pay', 'Pay endpoint'), ('webhook', 'Webhook'), ('scan', 'Monitoring scan'), ('admin', 'Admin action')], max_length=16, verbose_name='source'),
        ),
        migrations.AlterField(
            model_name='paymentevent',
            name='to_status',
            field=models.CharField(max_length=32, verbose_name='to status'),
        ),
        migrations.AlterField(
            model_name='product',
            name='active',
            field=models.BooleanField(default=True, verbose_name='active'),
        ),
        migrations.AlterField(
            model_name='product',
            name='currency',
            field=models.CharField(default='eur', max_length=3, verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='product',
            name='description',
            field=models.TextField(blank=True, verbose_name='description'),
        ),
        migrations.AlterField(
            model_name='product',
            name='name',
            field=models.CharField(max_length=200, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='product',
            name='price',
            field=models.PositiveIntegerField(help_text='In minor units (cents).', verbose_name='price'),
        ),
        migrations.AlterField(
            model_name='product',
            name='sku',
            field=models.SlugField(unique=True, verbose_name='sku'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='amount_at_stripe',
            field=models.PositiveIntegerField(blank=True, help_text='Taken at Stripe, in minor units.', null=True, verbose_name='amount at stripe'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='amount_here',
            field=models.PositiveIntegerField(blank=True, help_text="The order's, in minor units.", null=True, verbose_name='amount here'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='attempt',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='mismatches', to='payments.paymentattempt', verbose_name='attempt'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='charge_ids',
            field=models.JSONField(blank=True, default=list, help_text="The charges that took the shopper's money.", verbose_name='charge ids'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='currency',
            field=models.CharField(blank=True, max_length=3, verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='first_found_at',
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name='first found at'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='first_run',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='mismatches_first_found', to='payments.reconciliationrun', verbose_name='first run'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='kind',
            field=models.CharField(choices=[('charged_twice', 'Charged twice'), ('paid_at_stripe_only', 'Paid at Stripe, not here'), ('paid_here_only', 'Paid here, not at Stripe'), ('amount_differs', 'Amount differs'), ('status_differs', 'Status differs')], max_length=32, verbose_name='kind'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='last_found_at',
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name='last found at'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='last_run',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='mismatches_last_found', to='payments.reconciliationrun', verbose_name='last run'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='mailed_at',
            field=models.DateTimeField(blank=True, help_text='When ops were mailed about it.', null=True, verbose_name='mailed at'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='order',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='mismatches', to='payments.order', verbose_name='order'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='resolved',
            field=models.BooleanField(default=False, verbose_name='resolved'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='resolved_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='resolved at'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='status_at_stripe',
            field=models.CharField(blank=True, max_length=32, verbose_name='status at stripe'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='status_here',
            field=models.CharField(blank=True, max_length=32, verbose_name='status here'),
        ),
        migrations.AlterField(
            model_name='reconciliationmismatch',
            name='subject',
            field=models.CharField(max_length=255, verbose_name='subject'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='attempts_compared',
            field=models.PositiveIntegerField(default=0, verbose_name='attempts compared'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='charges_compared',
            field=models.PositiveIntegerField(default=0, verbose_name='charges compared'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='days',
            field=models.PositiveSmallIntegerField(verbose_name='days'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='errors',
            field=models.TextField(blank=True, verbose_name='errors'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='finished_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='finished at'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='intents_compared',
            field=models.PositiveIntegerField(default=0, verbose_name='intents compared'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='intents_outside',
            field=models.PositiveIntegerField(default=0, help_text='Intents of the window made outside this checkout (no order).', verbose_name='intents outside'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='mailed',
            field=models.PositiveIntegerField(default=0, help_text='Ops mails sent.', verbose_name='mailed'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='mismatches_found',
            field=models.PositiveIntegerField(default=0, verbose_name='mismatches found'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='mismatches_new',
            field=models.PositiveIntegerField(default=0, verbose_name='mismatches new'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='mismatches_resolved',
            field=models.PositiveIntegerField(default=0, verbose_name='mismatches resolved'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='orders_paid',
            field=models.PositiveIntegerField(default=0, help_text='Orders of the window paid here.', verbose_name='orders paid'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='started_at',
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name='started at'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='status',
            field=models.CharField(choices=[('running', 'Running'), ('done', 'Done'), ('failed', 'Failed (Stripe kept failing; nothing resolved)'), ('skipped', 'Skipped (another run was under way)')], default='running', max_length=16, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='stripe_calls',
            field=models.PositiveIntegerField(default=0, verbose_name='stripe calls'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='trigger',
            field=models.CharField(choices=[('command', 'By hand (manage.py)'), ('beat', 'Daily (beat)')], max_length=16, verbose_name='trigger'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='window_end',
            field=models.DateTimeField(help_text='…to here (excluded).', verbose_name='window end'),
        ),
        migrations.AlterField(
            model_name='reconciliationrun',
            name='window_start',
            field=models.DateTimeField(help_text='Intents and charges created from here…', verbose_name='window start'),
        ),
        migrations.AlterField(
            model_name='recoverylink',
            name='created_at',
            field=models.DateTimeField(auto_now_add=True, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='recoverylink',
            name='created_by',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='created by'),
        ),
        migrations.AlterField(
            model_name='recoverylink',
            name='email',
            field=models.EmailField(max_length=254, verbose_name='email'),
        ),
        migrations.AlterField(
            model_name='recoverylink',
            name='expires_at',
            field=models.DateTimeField(verbose_name='expires at'),
        ),
        migrations.AlterField(
            model_name='recoverylink',
            name='incident',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='recovery_links', to='payments.incident', verbose_name='incident'),
        ),
        migrations.AlterField(
            model_name='recoverylink',
            name='open_count',
            field=models.PositiveIntegerField(default=0, verbose_name='open count'),
        ),
        migrations.AlterField(
            model_name='recoverylink',
            name='opened_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='opened at'),
        ),
        migrations.AlterField(
            model_name='recoverylink',
            name='order',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='recovery_links', to='payments.order', verbose_name='order'),
        ),
        migrations.AlterField(
            model_name='recoverylink',
            name='used_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='used at'),
        ),
        migrations.AlterField(
            model_name='recoverylink',
            name='used_by_session',
            field=models.CharField(blank=True, max_length=32, verbose_name='used by session'),
        ),
        migrations.AlterField(
            model_name='scancursor',
            name='name',
            field=models.CharField(max_length=64, primary_key=True, serialize=False, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='scancursor',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, verbose_name='updated at'),
        ),
        migrations.AlterField(
            model_name='scancursor',
            name='value',
            field=models.CharField(blank=True, max_length=255, verbose_name='value'),
        ),
        migrations.AlterField(
            model_name='scanlock',
            name='expires_at',
            field=models.DateTimeField(verbose_name='expires at'),
        ),
        migrations.AlterField(
            model_name='scanlock',
            name='holder',
            field=models.CharField(max_length=64, verbose_name='holder'),
        ),
        migrations.AlterField(
            model_name='scanlock',
            name='name',
            field=models.CharField(max_length=64, primary_key=True, serialize=False, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='scanrun',
            name='errors',
            field=models.TextField(blank=True, verbose_name='errors'),
        ),
        migrations.AlterField(
            model_name='scanrun',
            name='finalized',
            field=models.PositiveIntegerField(default=0, verbose_name='finalized'),
        ),
        migrations.AlterField(
            model_name='scanrun',
            name='finished_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='finished at'),
        ),
        migrations.AlterField(
            model_name='scanrun',
            name='incidents_opened',
            field=models.PositiveIntegerField(default=0, verbose_name='incidents opened'),
        ),
        migrations.AlterField(
            model_name='scanrun',
            name='incidents_resolved',
            field=models.PositiveIntegerField(default=0, verbose_name='incidents resolved'),
        ),
        migrations.AlterField(
            model_name='scanrun',
            name='intents_seen',
            field=models.PositiveIntegerField(default=0, verbose_name='intents seen'),
        ),
        migrations.AlterField(
            model_name='scanrun',
            name='kind',
            field=models.CharField(choices=[('events', 'Incremental (events)'), ('stale', 'Stale sweep'), ('backfill', 'Backfill')], max_length=16, verbose_name='kind'),
        ),
        migrations.AlterField(
            model_name='scanrun',
            name='started_at',
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name='started at'),
        ),
        migrations.AlterField(
            model_name='scanrun',
            name='status',
            field=models.CharField(choices=[('running', 'Running'), ('done', 'Done'), ('failed', 'Failed (resumes next run)'), ('skipped', 'Skipped (another run held the lock)')], default='running', max_length=16, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='scanrun',
            name='stripe_calls',
            field=models.PositiveIntegerField(default=0, verbose_name='stripe calls'),
        ),
        migrations.AlterField(
            model_name='webhookevent',
            name='attempts',
            field=models.PositiveIntegerField(default=0, verbose_name='attempts'),
        ),
        migrations.AlterField(
            model_name='webhookevent',
            name='body',
            field=models.TextField(verbose_name='body'),
        ),
        migrations.AlterField(
            model_name='webhookevent',
            name='claimed_until',
            field=models.DateTimeField(blank=True, null=True, verbose_name='claimed until'),
        ),
        migrations.AlterField(
            model_name='webhookevent',
            name='created',
            field=models.DateTimeField(help_text='When Stripe made the event.', verbose_name='created'),
        ),
        migrations.AlterField(
            model_name='webhookevent',
            name='endpoint_uuid',
            field=models.UUIDField(blank=True, null=True, verbose_name='endpoint uuid'),
        ),
        migrations.AlterField(
            model_name='webhookevent',
            name='last_error',
            field=models.TextField(blank=True, verbose_name='last error'),
        ),
        migrations.AlterField(
            model_name='webhookevent',
            name='livemode',
            field=models.BooleanField(verbose_name='livemode'),
        ),
        migrations.AlterField(
            model_name='webhookevent',
            name='processed_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='processed at'),
        ),
        migrations.AlterField(
            model_name='webhookevent',
            name='received_at',
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name='received at'),
        ),
        migrations.AlterField(
            model_name='webhookevent',
            name='type',
            field=models.CharField(max_length=64, verbose_name='type'),
        ),
    ]
