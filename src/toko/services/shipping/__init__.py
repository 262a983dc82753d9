"""The shipping service: couriers, quoted shipping rates, delivery slots, shipments and their tracking.

Couriers are adapters (``couriers/``), each speaking its company's own HTTP API (the sandbox's
stand-ins under ``make up``) and answering in one domain shape. Rates are quoted from every courier
at once and kept under an id until they expire; shipments are booked with the courier of their rate
and tracked from the couriers' signed webhooks (``webhooks.py``), with polling as the fallback.
"""
