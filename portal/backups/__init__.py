"""Backups of instances through Velero, and restoring an instance from one."""
