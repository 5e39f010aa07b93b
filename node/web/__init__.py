"""Server-rendered pages (Jinja, usable without JavaScript) and the node's plain endpoints."""
