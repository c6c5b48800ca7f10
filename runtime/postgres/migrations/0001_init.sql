-- Times are timestamptz.

CREATE TABLE contacts (
	id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email           TEXT    NOT NULL,
	email_key       TEXT    NOT NULL UNIQUE,
	role            BOOLEAN NOT NULL DEFAULT FALSE,
	stage           TEXT,
	timezone        TEXT,
	account         TEXT,
	account_tier    TEXT,
	last_engaged_at TIMESTAMPTZ,
	created_at      TIMESTAMPTZ NOT NULL,
	updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX contacts_account ON contacts (account);

-- The attributes of the programme that have a column a_<name> in contacts.
CREATE TABLE contact_attributes (
	name     TEXT PRIMARY KEY,
	type     TEXT NOT NULL,
	added_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE events (
	id         TEXT    PRIMARY KEY,
	contact_id BIGINT NOT NULL REFERENCES contacts (id),
	name       TEXT    NOT NULL,
	at         TIMESTAMPTZ NOT NULL,
	props      JSONB   NOT NULL DEFAULT '{}'
);
-- Segment conditions select events by name and time, then group by contact;
-- the engine reads one contact's events by name.
CREATE INDEX events_name_at ON events (name, at, contact_id);
CREATE INDEX events_contact ON events (contact_id, name, at);

CREATE TABLE scores (
	contact_id  BIGINT NOT NULL REFERENCES contacts (id),
	model       TEXT    NOT NULL,
	score       DOUBLE PRECISION    NOT NULL,
	computed_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (contact_id, model)
);
CREATE INDEX scores_model_score ON scores (model, score, contact_id);

CREATE TABLE enrollments (
	id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	contact_id    BIGINT NOT NULL REFERENCES contacts (id),
	sequence      TEXT    NOT NULL,
	state         TEXT    NOT NULL,
	step          TEXT,
	step_since    TIMESTAMPTZ,
	next_check_at TIMESTAMPTZ,
	version       BIGINT NOT NULL,
	entered_at    TIMESTAMPTZ NOT NULL,
	exited_at     TIMESTAMPTZ,
	exit_reason   TEXT
);
CREATE UNIQUE INDEX enrollments_active ON enrollments (contact_id, sequence) WHERE state = 'active';
CREATE INDEX enrollments_due ON enrollments (next_check_at) WHERE state = 'active';

-- The send ledger: one row per decision to send, written with the decision.
CREATE TABLE sends (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	key         TEXT    NOT NULL UNIQUE,
	contact_id  BIGINT NOT NULL REFERENCES contacts (id),
	sequence    TEXT    NOT NULL,
	step        TEXT    NOT NULL,
	version     BIGINT NOT NULL,
	email       TEXT    NOT NULL,
	variant     TEXT,
	status      TEXT    NOT NULL,
	planned_at  TIMESTAMPTZ NOT NULL,
	claimed_at  TIMESTAMPTZ,
	claimed_by  TEXT,
	sent_at     TIMESTAMPTZ,
	message_id  TEXT,
	error       TEXT
);
CREATE INDEX sends_contact ON sends (contact_id, planned_at);
CREATE INDEX sends_status ON sends (status, planned_at);

CREATE TABLE suppressions (
	email_key TEXT    NOT NULL,
	email     TEXT    NOT NULL,
	reason    TEXT    NOT NULL,
	source    TEXT    NOT NULL,
	at        TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (email_key, reason)
);

CREATE TABLE consents (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email_key   TEXT    NOT NULL,
	at          TIMESTAMPTZ NOT NULL,
	source      TEXT    NOT NULL,
	wording     TEXT    NOT NULL,
	who         TEXT    NOT NULL,
	recorded_at TIMESTAMPTZ NOT NULL,
	UNIQUE (email_key, at, source, wording)
);

CREATE TABLE programme_versions (
	serial     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	lineage    TEXT    NOT NULL,
	hash       TEXT    NOT NULL,
	programme  TEXT    NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL,
	applied_by TEXT    NOT NULL,
	git_commit TEXT
);

CREATE TABLE locks (
	name       TEXT    PRIMARY KEY,
	id         TEXT    NOT NULL,
	holder     TEXT    NOT NULL,
	operation  TEXT    NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
