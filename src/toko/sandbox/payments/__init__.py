"""A stand-in payment provider shaped like Midtrans' Core API: charges, statuses, refunds, a page
where a person pays, a control API to pay, fail or expire a charge, and signed notifications."""
