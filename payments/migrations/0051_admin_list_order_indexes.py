"""The admin lists' order as indexes: orders and payment attempts newest first
(``-created_at``, then ``-id``, which Django adds to make the order total) had no index
to read it from, so each page sorted the whole table (3.2 s for the attempts at
2,000,000, bench/admin.py); incidents' ``first_seen_at`` index gains the ``id`` the
same way, so a deep page skips its rows in the index alone."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0050_admin_search_trigram'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='incident',
            name='payments_in_first_s_37408e_idx',
        ),
        migrations.AddIndex(
            model_name='incident',
            index=models.Index(fields=['first_seen_at', 'id'], name='incident_list_order'),
        ),
        migrations.AddIndex(
            model_name='order',
            index=models.Index(fields=['created_at', 'id'], name='order_list_order'),
        ),
        migrations.AddIndex(
            model_name='paymentattempt',
            index=models.Index(fields=['created_at', 'id'], name='attempt_list_order'),
        ),
    ]
