"""Admin: the staff pages under /admin."""
