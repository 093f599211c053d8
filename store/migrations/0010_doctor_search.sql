-- Doctor search: the profile figures a directory listing shows, a full-text
-- document per practitioner, and a table of the words patients use for each
-- specialty, with full-text (tsvector + GIN) and trigram (pg_trgm) indexes.

-- pg_trgm is a trusted extension: the database owner may create it. It lives
-- in public, and its operator class is named there, so a migration run with
-- another schema first on the search_path finds it too.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

-- Profile figures are loaded with the directory (store.Seed computes the demo
-- ones from the row's position); nothing computes them at request time.
ALTER TABLE practitioner
    ADD COLUMN recommendation_percent smallint NOT NULL DEFAULT 0 CHECK (recommendation_percent BETWEEN 0 AND 100),
    ADD COLUMN reviews_count          integer  NOT NULL DEFAULT 0 CHECK (reviews_count >= 0),
    ADD COLUMN patients_count         integer  NOT NULL DEFAULT 0 CHECK (patients_count >= 0),
    ADD COLUMN wait_time_minutes      integer  NOT NULL DEFAULT 0 CHECK (wait_time_minutes >= 0),
    ADD COLUMN summary                text     NOT NULL DEFAULT '',
    ADD COLUMN profile_photo_url      text,    -- NULL: no photo
    -- The name weighs more than the qualification. 'simple' keeps names as
    -- typed; 'english' stems the qualification's words.
    ADD COLUMN search_doc tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', name), 'A') ||
        setweight(to_tsvector('english', qualification), 'B')) STORED;

CREATE INDEX practitioner_search_doc ON practitioner USING gin (search_doc);
CREATE INDEX practitioner_name_trgm ON practitioner USING gin (name public.gin_trgm_ops);
-- A search reads doctors in its sort's order (store.SearchDoctors) and stops
-- after the page: within a specialty the text leads to, within a city, or
-- both. Scanned forwards or backwards, each index serves both directions of
-- its sort. The directory is read far more often than it is written.
CREATE INDEX practitioner_specialty_by_recommendation ON practitioner (specialty_code, recommendation_percent, reviews_count, id);
CREATE INDEX practitioner_specialty_by_experience ON practitioner (specialty_code, years_experience, id);
CREATE INDEX practitioner_specialty_by_fee ON practitioner (specialty_code, consult_fee_minor, id);
CREATE INDEX practitioner_city_specialty_by_recommendation ON practitioner (lower(city), specialty_code, recommendation_percent, reviews_count, id);
CREATE INDEX practitioner_city_specialty_by_experience ON practitioner (lower(city), specialty_code, years_experience, id);
CREATE INDEX practitioner_city_specialty_by_fee ON practitioner (lower(city), specialty_code, consult_fee_minor, id);
CREATE INDEX practitioner_city_by_recommendation ON practitioner (lower(city), recommendation_percent, reviews_count, id);
CREATE INDEX practitioner_city_by_experience ON practitioner (lower(city), years_experience, id);
CREATE INDEX practitioner_city_by_fee ON practitioner (lower(city), consult_fee_minor, id);

-- specialty_term holds every word that leads to a specialty: its name
-- ('Dentist'), its field ('dentistry') and the synonyms patients type
-- ('teeth', 'tooth pain'). The trigger below keeps it equal to the specialty
-- table, so the synonyms have one source: specialty.synonyms.
CREATE TABLE specialty_term (
    specialty_code text NOT NULL REFERENCES specialty (code) ON DELETE CASCADE,
    term           text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('name', 'field', 'synonym')),
    term_doc       tsvector GENERATED ALWAYS AS (to_tsvector('english', term)) STORED,
    PRIMARY KEY (specialty_code, term)
);
CREATE INDEX specialty_term_doc ON specialty_term USING gin (term_doc);
CREATE INDEX specialty_term_trgm ON specialty_term USING gin (term public.gin_trgm_ops);

CREATE FUNCTION specialty_term_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM specialty_term WHERE specialty_code = NEW.code;
    INSERT INTO specialty_term (specialty_code, term, kind) VALUES (NEW.code, NEW.name, 'name');
    INSERT INTO specialty_term (specialty_code, term, kind)
        VALUES (NEW.code, replace(NEW.code, '_', ' '), 'field')
        ON CONFLICT DO NOTHING;
    INSERT INTO specialty_term (specialty_code, term, kind)
        SELECT DISTINCT NEW.code, lower(trim(s)), 'synonym' FROM unnest(NEW.synonyms) AS s WHERE trim(s) <> ''
        ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$;

CREATE TRIGGER specialty_term_sync AFTER INSERT OR UPDATE ON specialty
    FOR EACH ROW EXECUTE FUNCTION specialty_term_sync();

-- Specialties loaded before this migration get their terms now.
UPDATE specialty SET name = name;
