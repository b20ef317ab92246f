"""A shopper's personal data: what we hold about an email address (an access or
portability request, ``selectors.shopper_data_find``) and erasing it on request
(``erasure.shopper_data_erase``), each erasure recorded (``models.ErasureRecord``).

Above the rooms whose data it reads and blanks (shop, checkout, monitoring, recovery),
and imported by none of them."""
