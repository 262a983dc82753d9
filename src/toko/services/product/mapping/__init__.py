"""Conversions between the product service's protobuf messages and its domain and storage objects.

- ``catalog``: categories, products and SKUs
- ``pricing``: quotes, pricing state, history, schedules and campaigns
- ``storefront``: a SKU's offer (current price, flash sale) and availability, as product reads show them
- ``common``: money and timestamps on the wire
"""
