"""The shipping service's use cases, one module per aggregate plus ``common``; one transaction each.

Handlers take keyword-only arguments and return protobuf messages (or domain values for the
webhook listener). The events a write raises are staged in its unit of work and committed with
it, so they exist exactly when the write does. A courier is called outside any transaction.
"""
