-- CarePath's first schema: the directory (practitioners, organisations,
-- schedules, catalogues), patients, and the journey register.
-- Table names follow FHIR R4 resources where one exists.

CREATE TABLE specialty (
    code      text PRIMARY KEY,            -- e.g. 'cardiology'
    name      text NOT NULL,               -- e.g. 'Cardiologist'
    synonyms  text[] NOT NULL DEFAULT '{}' -- words patients use: 'heart', 'chest pain'
);

-- Organization covers clinics, pharmacies and laboratories.
CREATE TABLE organization (
    id        uuid PRIMARY KEY,
    kind      text NOT NULL CHECK (kind IN ('clinic', 'pharmacy', 'laboratory')),
    name      text NOT NULL,
    city      text NOT NULL,
    address   text NOT NULL,
    latitude  double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    phone     text NOT NULL,
    active    boolean NOT NULL DEFAULT true
);

CREATE TABLE practitioner (
    id                uuid PRIMARY KEY,
    name              text NOT NULL,
    gender            text NOT NULL CHECK (gender IN ('female', 'male', 'other', 'unknown')),
    specialty_code    text NOT NULL REFERENCES specialty (code),
    qualification     text NOT NULL,
    years_experience  integer NOT NULL CHECK (years_experience >= 0),
    languages         text[] NOT NULL,
    organization_id   uuid NOT NULL REFERENCES organization (id),
    city              text NOT NULL,
    consult_fee_minor integer NOT NULL CHECK (consult_fee_minor >= 0), -- in the currency's minor unit
    currency          text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    active            boolean NOT NULL DEFAULT true
);
CREATE INDEX practitioner_specialty_city ON practitioner (specialty_code, city);

-- Schedule is a practitioner's weekly availability; slots are cut from it.
CREATE TABLE schedule (
    id              uuid PRIMARY KEY,
    practitioner_id uuid NOT NULL REFERENCES practitioner (id),
    weekday         smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6), -- 0 = Sunday
    start_time      time NOT NULL,
    end_time        time NOT NULL,
    slot_minutes    integer NOT NULL CHECK (slot_minutes > 0),
    timezone        text NOT NULL,
    CHECK (end_time > start_time),
    UNIQUE (practitioner_id, weekday, start_time)
);

CREATE TABLE patient (
    id                 uuid PRIMARY KEY,
    name               text NOT NULL,
    birth_date         date NOT NULL,
    gender             text NOT NULL CHECK (gender IN ('female', 'male', 'other', 'unknown')),
    phone              text NOT NULL,
    email              text NOT NULL,
    city               text NOT NULL,
    preferred_language text NOT NULL,
    timezone           text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Lab tests patients can be ordered, identified by LOINC code.
CREATE TABLE lab_test (
    loinc_code  text PRIMARY KEY,
    name        text NOT NULL,
    specimen    text NOT NULL,
    price_minor integer NOT NULL CHECK (price_minor >= 0),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    source      text NOT NULL -- where the code comes from
);

-- Products sold through partner pharmacies (over-the-counter and devices).
CREATE TABLE product (
    sku                   text PRIMARY KEY,
    name                  text NOT NULL,
    category              text NOT NULL,
    price_minor           integer NOT NULL CHECK (price_minor >= 0),
    currency              text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    requires_prescription boolean NOT NULL DEFAULT false
);

-- Journey registers each patient journey; Temporal holds its process state,
-- this row is the domain record the workflow writes through an activity.
CREATE TABLE journey (
    id          text PRIMARY KEY, -- the Temporal workflow ID
    patient_id  uuid NOT NULL REFERENCES patient (id),
    pathway_id  text NOT NULL,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journey_patient ON journey (patient_id);
