"""Customers' own domains on their instances: ownership through DNS, then TLS from cert-manager."""
