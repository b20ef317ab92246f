"""Dates and times as the whole site writes them, Django's own admin pages (History,
"Recent actions", read-only fields) included: the payments admin's one format, which
names the time zone (``payments.admin.common.timestamp``)."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y H:i T"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y H:i T"
TIME_FORMAT = "H:i"
