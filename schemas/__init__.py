"""The wire contract of hrcnet: marshmallow schemas only (no Flask, no SQLAlchemy)."""
