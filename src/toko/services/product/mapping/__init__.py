"""Conversions between the product service's protobuf messages and its domain and storage objects.

- ``catalog``: categories, products and SKUs
- ``pricing``: quotes, pricing state, history, schedules and campaigns
- ``common``: money and timestamps on the wire
"""
