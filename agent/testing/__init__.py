"""Wire-faithful fake providers and helpers shared by tests, benchmarks and load runs."""
