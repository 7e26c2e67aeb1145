"""Load generation: the benchmark command (`idnode bench`), its data generator, and (later) Locust users."""
