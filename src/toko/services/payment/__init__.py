"""The payment service: notes, written and read back.

The skeleton scripts/new_service.py wrote: say here what the service owns.
"""
