-- Hand-offs at account level: the account a hand-off hands over, and
-- the contacts that reached it (the one that made it, and the account's
-- later contacts that joined it while it was open).
ALTER TABLE handoffs ADD COLUMN account_key TEXT;
CREATE INDEX handoffs_account ON handoffs (account_key, created_at) WHERE account_key IS NOT NULL;

-- One row per account and account hand-off: the hand-off now open, or
-- the last one. A decision takes the row's lock to open a new hand-off,
-- so two workers deciding two contacts of one account make one.
CREATE TABLE account_handoffs (
	handoff     TEXT    NOT NULL,
	account_key TEXT    NOT NULL,
	handoff_id  BIGINT REFERENCES handoffs (id),
	opened_at   TIMESTAMPTZ,
	open_until  TIMESTAMPTZ,
	returned_at TIMESTAMPTZ,
	PRIMARY KEY (handoff, account_key)
);

CREATE TABLE handoff_contacts (
	handoff_id BIGINT  NOT NULL REFERENCES handoffs (id),
	contact_id BIGINT  NOT NULL REFERENCES contacts (id),
	reason     TEXT    NOT NULL,
	sequence   TEXT,
	at         TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (handoff_id, contact_id)
);
CREATE INDEX handoff_contacts_contact ON handoff_contacts (contact_id);
