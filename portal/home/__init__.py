"""Home: the landing page for guests and the dashboard for customers."""
