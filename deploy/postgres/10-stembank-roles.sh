#!/bin/sh
# The postgres image runs this once, on the first start of an empty data volume: StemBank's owner role (for
# migrations and backups) and application role (rows only), from /stembank/roles.sql. See roles.sql.
set -eu
: "${STEMBANK_OWNER_PASSWORD:?set STEMBANK_OWNER_PASSWORD in .env}"
: "${STEMBANK_APP_PASSWORD:?set STEMBANK_APP_PASSWORD in .env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v db_name="$POSTGRES_DB" \
    -v owner_role="${STEMBANK_OWNER_ROLE:-stembank_owner}" -v owner_password="$STEMBANK_OWNER_PASSWORD" \
    -v app_role="${STEMBANK_APP_ROLE:-stembank_app}" -v app_password="$STEMBANK_APP_PASSWORD" \
    -f /stembank/roles.sql
