"""Platform infrastructure: settings, database connections and roles, migrations, the dbt runner, audit log."""
