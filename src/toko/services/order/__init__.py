"""The order service: checkouts and orders.

A checkout of a buyer's lines is priced (QuoteCheckout) and placed (PlaceCheckout) as a saga over
promotion (voucher holds), inventory (one reservation) and payment; it becomes one order per shop.
Each order then goes from awaiting payment to completed or cancelled, every transition on its
timeline and every deadline a durable timer. See ``handlers``.
"""
