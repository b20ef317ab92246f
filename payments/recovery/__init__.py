"""Getting the money back: ops actions on incidents (``actions``), the links mailed to
shoppers (``links``) and the page such a link opens."""
