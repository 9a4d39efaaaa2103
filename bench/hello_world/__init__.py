"""Minimal FastAPI + Mangum Lambda: the baseline the app's benchmarks are measured against."""
