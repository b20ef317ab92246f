"""How the site sends mail (``messages``), and the shopper's receipt."""
