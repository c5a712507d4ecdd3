"""Billing: invoices and Midtrans payment notifications."""
