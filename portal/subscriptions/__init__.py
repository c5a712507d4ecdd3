"""Subscriptions: a customer's instance of a plan and its life cycle."""
