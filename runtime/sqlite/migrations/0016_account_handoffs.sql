-- Hand-offs at account level: the account a hand-off hands over, and
-- the contacts that reached it (the one that made it, and the account's
-- later contacts that joined it while it was open). Times are Unix
-- milliseconds (UTC).
ALTER TABLE handoffs ADD COLUMN account_key TEXT;
CREATE INDEX handoffs_account ON handoffs (account_key, created_at) WHERE account_key IS NOT NULL;

-- One row per account and account hand-off: the hand-off now open, or
-- the last one. A decision takes the row's lock to open a new hand-off,
-- so two workers deciding two contacts of one account make one.
CREATE TABLE account_handoffs (
	handoff     TEXT    NOT NULL,
	account_key TEXT    NOT NULL,
	handoff_id  INTEGER REFERENCES handoffs (id),
	opened_at   INTEGER,
	open_until  INTEGER,
	returned_at INTEGER,
	PRIMARY KEY (handoff, account_key)
);

CREATE TABLE handoff_contacts (
	handoff_id INTEGER NOT NULL REFERENCES handoffs (id),
	contact_id INTEGER NOT NULL REFERENCES contacts (id),
	reason     TEXT    NOT NULL,
	sequence   TEXT,
	at         INTEGER NOT NULL,
	PRIMARY KEY (handoff_id, contact_id)
);
CREATE INDEX handoff_contacts_contact ON handoff_contacts (contact_id);
