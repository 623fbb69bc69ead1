"""Side-by-side benchmarks: `make bench` (see bench/__main__.py). Not part of the tests."""
