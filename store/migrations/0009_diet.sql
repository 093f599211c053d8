-- Diet plans. The Indian Food Composition Tables 2017 (loaded at seed time
-- from the npm package, never typed in), the patient's diet preferences,
-- each revision of a journey's diet plan (FHIR NutritionOrder) with its
-- targets, example meals and the dietitian's review, and the meals the
-- patient logs.

-- One food of IFCT 2017; amounts per 100 g edible portion.
CREATE TABLE food_composition (
    code           text PRIMARY KEY, -- IFCT food code, e.g. A015
    name           text NOT NULL,
    food_group     text NOT NULL,
    diet           text NOT NULL CHECK (diet IN ('vegetarian', 'eggetarian', 'non-vegetarian')),
    energy_kcal    double precision NOT NULL CHECK (energy_kcal >= 0),
    energy_derived boolean NOT NULL DEFAULT false, -- computed from proximates where the table gives none
    carbohydrate_g double precision NOT NULL CHECK (carbohydrate_g >= 0),
    protein_g      double precision NOT NULL CHECK (protein_g >= 0),
    fat_g          double precision NOT NULL CHECK (fat_g >= 0),
    fibre_g        double precision NOT NULL CHECK (fibre_g >= 0),
    sodium_mg      double precision NOT NULL CHECK (sodium_mg >= 0),
    potassium_mg   double precision NOT NULL CHECK (potassium_mg >= 0),
    vitamin_k_ug   double precision NOT NULL CHECK (vitamin_k_ug >= 0),
    source         text NOT NULL,
    licence        text NOT NULL
);

-- What the patient prefers; allergies come from allergy_intolerance.
CREATE TABLE diet_preference (
    patient_id    uuid PRIMARY KEY REFERENCES patient (id),
    diet          text CHECK (diet IN ('vegetarian', 'eggetarian', 'non-vegetarian')),
    cuisine       text,
    exclude_foods text[] NOT NULL DEFAULT '{}',
    weight_kg     double precision CHECK (weight_kg > 0),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One revision of a journey step's diet plan. A new revision supersedes
-- the earlier ones; each needs the dietitian's review.
CREATE TABLE diet_plan (
    id            uuid PRIMARY KEY,
    journey_id    text NOT NULL,
    step          text NOT NULL,
    revision      integer NOT NULL CHECK (revision >= 1),
    patient_id    uuid NOT NULL REFERENCES patient (id),
    trigger       text NOT NULL CHECK (trigger IN ('initial', 'glucose', 'weight_gain', 'weight_loss', 'review_interval', 'amendment')),
    status        text NOT NULL CHECK (status IN ('awaiting_review', 'infeasible', 'approved', 'superseded')),
    targets       jsonb NOT NULL,
    plan          jsonb,           -- meals and totals; NULL when infeasible
    exclusions    jsonb NOT NULL,  -- food-drug interactions and allergies applied
    infeasible    text,            -- why no plan could be made
    reviewed_by   uuid REFERENCES practitioner (id),
    review_action text CHECK (review_action IN ('approve', 'amend')),
    review_reason text,            -- clinical free text: stored, never logged
    reviewed_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (journey_id, step, revision)
);
CREATE INDEX diet_plan_journey ON diet_plan (journey_id, revision DESC);

-- A meal the patient logged, with the nutrients of its items.
CREATE TABLE meal_log (
    id             uuid PRIMARY KEY,
    journey_id     text NOT NULL,
    patient_id     uuid NOT NULL REFERENCES patient (id),
    client_id      text NOT NULL, -- the logging client's ID: a retry stores nothing twice
    eaten_at       timestamptz NOT NULL,
    slot           text NOT NULL CHECK (slot IN ('breakfast', 'lunch', 'snack', 'dinner')),
    items          jsonb NOT NULL, -- [{code, grams}]
    energy_kcal    double precision NOT NULL,
    carbohydrate_g double precision NOT NULL,
    protein_g      double precision NOT NULL,
    fat_g          double precision NOT NULL,
    fibre_g        double precision NOT NULL,
    sodium_mg      double precision NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (journey_id, client_id)
);
CREATE INDEX meal_log_journey_day ON meal_log (journey_id, eaten_at);
