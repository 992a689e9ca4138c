-- StemBank's database roles: the running bank cannot change the schema, nor switch the history triggers off.
--
-- owner_role owns the database, its schema and every table. Only `manage.py migrate` (the one-shot `migrate`
--            service of docker-compose.yml) and `manage.py backup` / `restore` connect as it.
-- app_role   is what web, worker and beat connect as. It reads and writes rows (SELECT, INSERT, UPDATE, DELETE)
--            and uses the sequences, nothing more. Owning no table it can neither ALTER one (no DISABLE TRIGGER,
--            no DROP TRIGGER) nor TRUNCATE one, so the append-only triggers of the history tables hold against
--            the application itself, and a stolen application password cannot rewrite the audit trail.
--
-- Run by psql as a superuser, with the five variables set; the postgres image does this on the first start of
-- an empty volume (10-stembank-roles.sh). It can be run again (an upgrade, a restored database): roles that
-- exist are kept, objects owned by anyone else are handed to the owner role, grants are re-applied.
--
--   psql -v ON_ERROR_STOP=1 -v db_name=stembank -v owner_role=stembank_owner -v owner_password=... \
--        -v app_role=stembank_app -v app_password=... -f roles.sql
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
              :'owner_role', :'owner_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner_role') \gexec

SELECT format('CREATE ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
              :'app_role', :'app_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec

ALTER DATABASE :"db_name" OWNER TO :"owner_role";
REVOKE ALL ON DATABASE :"db_name" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db_name" TO :"app_role";

\connect :"db_name"

ALTER SCHEMA public OWNER TO :"owner_role";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_role";

-- An installation from before these roles (everything owned by the superuser it was created with) is handed
-- to the owner role: tables (with the sequences of their columns), views, other sequences, functions.
SELECT format('ALTER TABLE %I.%I OWNER TO %I', schemaname, tablename, :'owner_role') FROM pg_tables
WHERE schemaname = 'public' AND tableowner <> :'owner_role' \gexec
SELECT format('ALTER VIEW %I.%I OWNER TO %I', schemaname, viewname, :'owner_role') FROM pg_views
WHERE schemaname = 'public' AND viewowner <> :'owner_role' \gexec
SELECT format('ALTER SEQUENCE %s OWNER TO %I', c.oid::regclass, :'owner_role')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> :'owner_role'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i', 'e')) \gexec
SELECT format('ALTER FUNCTION %s OWNER TO %I', p.oid::regprocedure, :'owner_role')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.prokind = 'f' AND pg_get_userbyid(p.proowner) <> :'owner_role'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') \gexec

-- What migrate creates from now on...
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";
-- ... and what exists already.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
