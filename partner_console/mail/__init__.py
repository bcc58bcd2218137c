"""Invite emails: proper messages (message.py), handed to SMTP or kept in the Outbox
(transport.py), never twice and never lost (sender.py over storage/sends.py)."""
