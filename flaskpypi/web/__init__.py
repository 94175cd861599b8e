"""The web layer: blueprints simple, api and ui; thin views over the services."""
