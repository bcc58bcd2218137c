"""The Upheal Partner API, typed: client.py, errors.py, models.py."""
