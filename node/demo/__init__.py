"""Demo material shipped with hrcnet (city data profiles and catalogue additions)."""
