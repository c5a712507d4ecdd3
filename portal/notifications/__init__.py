"""Notifications: the email outbox and its delivery."""
