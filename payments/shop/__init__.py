"""The shop: products, the cart, orders placed from it, and the shopper's pages (store,
cart, checkout form, order page)."""
