"""A city (or secretariat) node: the Flask app, its models, services, API, pages and jobs."""
