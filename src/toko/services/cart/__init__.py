"""The cart service: buyers' and guests' carts, repriced from the product service on every read.

It owns carts and their lines (one per SKU, with the price the buyer last saw), guest carts' expiry
and their merge into a buyer's cart on sign-in. Prices, stock and product facts are the product
service's: the cart asks for them on every read and says per line what changed.
"""
