"""The mail stand-in: an SMTP server that keeps every message it accepts, and a mailbox to read them in."""
