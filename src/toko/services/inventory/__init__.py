"""The inventory service: warehouses, stock and its ledger, reservations, flash-sale quotas, purchasing."""
