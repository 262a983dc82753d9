"""The product service's use cases: one function per command or query, one transaction each.

Handlers take keyword-only arguments, the caller's principal among them, and
return protobuf messages. The events a write raises are staged in its unit of
work and committed with it. Grouped by aggregate:

- ``catalog``: categories and products, and SKUs with their current prices
- ``pricing``: a SKU's pricing (bounds, tiers, dynamic rules) and the stock signals that drive it
- ``quotes``: quotes and price history, public
- ``schedules``: scheduled prices
- ``campaigns``: flash-sale campaigns
- ``boundaries``: the price scheduler's round, applying schedules and campaigns as windows open and close

Every write that can move a SKU's price ends in ``repricing.reprice`` inside its unit of work.
"""

from toko.services.product.handlers.common import SOURCE, Catalog

__all__ = ["SOURCE", "Catalog"]
