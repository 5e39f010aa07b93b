"""Running a node for years: backup, restore, upgrade (docs/operations.md).

Called by the command line (the composition root); uses the core (config, db, migrations) and
the network only through :mod:`node.network.port`.
"""
