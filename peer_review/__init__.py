"""Peer review and mentoring between cities (declared workflows, federated). See issue 5."""
