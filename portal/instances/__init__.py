"""Instances: observed status of running instances, their events and resource samples."""
