"""Wire-faithful fake vendor servers and in-memory fakes, for tests and benchmarks."""
