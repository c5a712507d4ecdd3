"""Jobs: the periodic tasks' runs, recorded for the admin jobs page."""
