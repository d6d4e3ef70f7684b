#!/bin/sh
# Runs once, when the local PostgreSQL container first creates its database: the role Grafana reads the run
# tables with. SELECT only, on today's tables and on the ones migrations create later. In production the same
# SQL is run by hand on the managed database (docs/deploy.md).
set -eu
psql --no-psqlrc -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB}" \
  -v reader="${GRAFANA_DB_USER:-grafana_reader}" \
  -v password="${GRAFANA_DB_PASSWORD:-grafana}" \
  -v owner="${POSTGRES_USER}" \
  -v db="${POSTGRES_DB}" <<'SQL'
CREATE ROLE :"reader" LOGIN PASSWORD :'password' CONNECTION LIMIT 3;
ALTER ROLE :"reader" SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE :"db" TO :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
SQL
