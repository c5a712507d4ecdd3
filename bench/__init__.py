"""Benchmarks of the portal: page latency under load, webhook throughput, sweep cost, payment-to-running, email."""
