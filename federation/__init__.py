"""Federation security core: canonical JSON, Ed25519 keys, signed envelopes and HTTP signatures."""
