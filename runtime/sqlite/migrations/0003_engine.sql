-- Why an active enrollment waits: a cap or quiet hours holding a send
-- back, a wait step, an event awaited. Shown by nurture explain.
ALTER TABLE enrollments ADD COLUMN waiting TEXT;

-- Leads handed to sales: one row per hand-off decision, written with it;
-- the webhook and notification go out from here.
CREATE TABLE handoffs (
	id         INTEGER PRIMARY KEY,
	contact_id INTEGER NOT NULL REFERENCES contacts (id),
	handoff    TEXT    NOT NULL,
	reason     TEXT    NOT NULL,
	sequence   TEXT,
	status     TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_at    INTEGER,
	last_error TEXT,
	done_at    INTEGER
);
CREATE INDEX handoffs_due ON handoffs (status, next_at);

-- One row per tick: when it ran, on which version, what it decided.
CREATE TABLE ticks (
	id          INTEGER PRIMARY KEY,
	at          INTEGER NOT NULL,
	worker      TEXT    NOT NULL,
	version     INTEGER NOT NULL,
	finished_at INTEGER NOT NULL,
	report      TEXT    NOT NULL
);

-- What a tick looks at again: contacts whose attributes changed
-- (updated_at) or who have new events (changed_at) since the last tick.
ALTER TABLE contacts ADD COLUMN changed_at INTEGER;
CREATE INDEX contacts_updated ON contacts (updated_at);
CREATE INDEX contacts_changed ON contacts (changed_at);
