"""The payment service: payments, the provider that collects them, and their append-only ledger.

A checkout's payment is opened with the provider of its method (Midtrans' Core API; the sandbox's
stand-in under `make up`) and moved only by the provider's confirmed word; refunds are weighed
against the ledger. See ``handlers``.
"""
