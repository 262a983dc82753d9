"""The order service's use cases, one module per aggregate.

- ``quotes``: pricing a checkout (QuoteCheckout), and pricing it again when it is placed
- ``checkouts``: placing a checkout (the saga), its compensation, the worker resuming stalled ones,
  and the payment's outcome (its events)
- ``orders``: an order's life after payment (accept, ship, cancel, deliver, complete) and its timers
- ``queries``: reading checkouts and orders
- ``common``: what they share
"""

from toko.services.order.handlers.common import SOURCE, Orders

__all__ = ["SOURCE", "Orders"]
