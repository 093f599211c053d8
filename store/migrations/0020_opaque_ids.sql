-- Opaque identifiers: journey workflow IDs no longer name the pathway (a
-- condition) or the episode, and SMS links no longer carry workflow IDs.
--
-- journey_ref is what the workflow ID used to say: which journey of the
-- patient on the pathway a workflow is. The API writes the row before it
-- starts the workflow, so (patient, pathway, episode) names at most one
-- workflow, and a start retried after a crash reuses the ID it chose.
CREATE TABLE journey_ref (
    patient_id  uuid NOT NULL REFERENCES patient (id),
    pathway_id  text NOT NULL,
    episode     integer NOT NULL CHECK (episode >= 1),
    workflow_id text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (patient_id, pathway_id, episode)
);

-- Journeys started before opaque IDs keep their old ones
-- (journey:PATIENT:PATHWAY:EPISODE): record them, so that a new start of the
-- same journey is still a conflict and not a second journey.
INSERT INTO journey_ref (patient_id, pathway_id, episode, workflow_id, created_at)
SELECT patient_id, pathway_id, split_part(id, ':', 4)::int, id, created_at
FROM journey
WHERE id ~ '^journey:[0-9a-f-]{36}:[a-z0-9][a-z0-9-]{0,62}:[1-9][0-9]{0,8}$'
  AND split_part(id, ':', 3) = pathway_id
ON CONFLICT DO NOTHING;

-- short_link maps the random token of an SMS link (/l/TOKEN) to the app
-- path it stands for, until it expires. One link per message: (scope, key)
-- is the sending activity's idempotency key, so a retried send texts the
-- same link.
CREATE TABLE short_link (
    token       text PRIMARY KEY,
    scope       text NOT NULL,
    key         text NOT NULL,
    target      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    UNIQUE (scope, key)
);
CREATE INDEX short_link_expires ON short_link (expires_at);
