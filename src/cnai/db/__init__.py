"""The control-plane database: schema, engine, migrations."""
