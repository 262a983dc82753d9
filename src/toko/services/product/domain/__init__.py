"""The product service's domain, pure Python (no database, transport or proto imports).

- ``catalog``: categories, products, options, SKUs and their base prices, and the rules they obey
- ``pricing``: which price applies at an instant, tiers, bounds, dynamic rules, windows and quote expiry
- ``storefront``: what a buyer is shown of a SKU now: its offer (current price, flash sale) and availability
"""
