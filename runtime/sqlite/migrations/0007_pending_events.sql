-- Events of addresses the store does not hold yet: a web visitor's history
-- that arrives before the visitor becomes a lead. They wait here until
-- expires_at and join the contact's events when the contact is imported.
CREATE TABLE pending_events (
	id         TEXT    PRIMARY KEY,
	email_key  TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	at         INTEGER NOT NULL,
	props      TEXT    NOT NULL DEFAULT '{}',
	expires_at INTEGER NOT NULL
);
-- An import looks up its new contacts' events by address; a recording
-- drops the expired ones by time.
CREATE INDEX pending_events_key ON pending_events (email_key);
CREATE INDEX pending_events_expiry ON pending_events (expires_at);
