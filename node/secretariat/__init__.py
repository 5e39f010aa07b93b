"""The network secretariat: membership, directory, catalogue releases, benchmarks."""
