-- Least privilege: the API and the worker connect as an application role
-- that owns nothing; migrations run as the owner role that owns the schema.
--
-- The application role's name comes from the setting carepath.app_role,
-- which store.Migrate sets from DATABASE_URL's user (default carepath_app).
-- When it is the migrating role itself (one role for everything, as before
-- this migration) nothing is granted or revoked: an owner keeps every right
-- on its tables anyway.
--
-- The role is created NOLOGIN when missing and the owner may create roles;
-- giving it a password is the operator's step (locally the stack creates it
-- with LOGIN first; README "On a managed PostgreSQL").
--
-- Every statement works on the schema being migrated (current_schema()),
-- so tests that migrate a schema of their own get the same grants.
DO $$
DECLARE
    app     name := coalesce(nullif(current_setting('carepath.app_role', true), ''), 'carepath_app');
    sch     name := current_schema();
    t       record;
    -- Written once, read many times: INSERT and SELECT only. Without UPDATE,
    -- DELETE and TRUNCATE the role cannot rewrite their rows, and as a
    -- non-owner it cannot ALTER TABLE ... DISABLE TRIGGER either.
    --   audit_event                             the audit trail (0011)
    --   ledger_account, journal_entry,
    --   journal_line, platform_fee_rate         the earnings ledger (0006)
    --   signed_prescription, prescription_review,
    --   medication_request                      signed prescriptions (0004)
    --   record_signature                        signed uploads (0013)
    append_only text[] := ARRAY['audit_event', 'ledger_account', 'journal_entry', 'journal_line', 'platform_fee_rate',
        'signed_prescription', 'prescription_review', 'medication_request', 'record_signature'];
BEGIN
    IF app = current_user THEN
        RAISE WARNING 'carepath.app_role is the migrating role %: no separate application role, nothing granted', app;
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', app);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'the application role % does not exist and % may not create it', app, current_user
                USING HINT = 'create it first (README: "On a managed PostgreSQL"): CREATE ROLE ' || quote_ident(app) || ' LOGIN PASSWORD ''...''';
        END;
    END IF;

    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', sch, app);
    FOR t IN SELECT c.relname FROM pg_class c
              WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = sch) AND c.relkind IN ('r', 'p') AND pg_has_role(c.relowner, 'USAGE')
    LOOP
        IF t.relname = ANY (append_only) THEN
            EXECUTE format('REVOKE ALL ON TABLE %I.%I FROM %I', sch, t.relname, app);
            EXECUTE format('GRANT SELECT, INSERT ON TABLE %I.%I TO %I', sch, t.relname, app);
        ELSIF t.relname = 'audit_head' THEN
            -- The chain head is one row that every append moves forward
            -- (store.AppendAudit locks it FOR UPDATE, which needs an UPDATE
            -- right, and sets seq and hash). Its trigger lets it move only
            -- one step forward; the role may not insert or delete it.
            EXECUTE format('REVOKE ALL ON TABLE %I.%I FROM %I', sch, t.relname, app);
            EXECUTE format('GRANT SELECT, UPDATE (seq, hash) ON TABLE %I.%I TO %I', sch, t.relname, app);
        ELSIF t.relname = 'user_public_key' THEN
            -- A key is revoked (revoked_at) and re-registered (the upsert
            -- sets owner_role to itself), never re-pointed: without UPDATE
            -- on spki or owner_id the role cannot swap a user's key for one
            -- that signs forgeries.
            EXECUTE format('REVOKE ALL ON TABLE %I.%I FROM %I', sch, t.relname, app);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE (owner_role, revoked_at) ON TABLE %I.%I TO %I', sch, t.relname, app);
        ELSIF t.relname = 'prescription' THEN
            -- A prescription's header moves draft -> superseded or signed and
            -- records the check's result; what it is for (journey, patient,
            -- prescriber, version) is never rewritten, nor is it deleted: the
            -- signed record and its items refer to it.
            EXECUTE format('REVOKE ALL ON TABLE %I.%I FROM %I', sch, t.relname, app);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE (status, check_complete, highest_severity) ON TABLE %I.%I TO %I',
                sch, t.relname, app);
        ELSIF t.relname = 'schema_migration' THEN
            EXECUTE format('GRANT SELECT ON TABLE %I.%I TO %I', sch, t.relname, app);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE %I.%I TO %I', sch, t.relname, app);
        END IF;
    END LOOP;
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', sch, app);

    -- Tables and sequences later migrations create (as this owner, in this
    -- schema) get the ordinary rights at once; a later append-only table
    -- must REVOKE UPDATE, DELETE itself (see package store's doc).
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', sch, app);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO %I', sch, app);
END
$$;
