"""Payments in trouble: what webhooks and scans learn about intents (``observe``), the
incidents it opens (``incidents``), the scans beat runs, the dashboard's reads
(``selectors``) and the ops digest and alert."""
