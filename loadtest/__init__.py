"""Load testing: Locust users and data generators (later issues)."""
