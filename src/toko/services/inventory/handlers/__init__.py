"""The inventory's use cases: one function per command or query, one transaction each.

Handlers take keyword-only arguments, the caller's principal among them, and
return protobuf messages. The events a write raises are staged in its unit of
work and committed with it. Grouped by aggregate:

- ``warehouses``: shop warehouses and fulfilment centres
- ``stock``: receipts, returns, adjustments, write-offs, counts, transfers, stock policies, perishable SKUs
- ``lots``: the lots of perishable SKUs, and writing off the expired ones
- ``reservations``: stock held for orders, committed, released or expired
- ``flash_sale``: campaign quotas and the claims against them
- ``purchasing``: suppliers, purchase orders, goods receipts, reorder suggestions

Who may do what (the RPC's declared roles and scopes are enforced before):
sellers manage their own shop's warehouses and stock; admins manage fulfilment
centres and anything else; the ``service`` role (the order service) reserves,
commits, releases and returns goods.
"""

from toko.services.inventory.handlers.common import SOURCE, Inventory

__all__ = ["SOURCE", "Inventory"]
