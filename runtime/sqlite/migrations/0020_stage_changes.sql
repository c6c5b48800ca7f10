-- When each contact reached each lifecycle stage. Triggers on contacts
-- write a row whenever a contact is stored with a stage or its stage
-- changes — an import, the contacts API, a step, a hand-off, a return —
-- in the statement's own transaction, so that no writer can forget it.
-- at is the contact's updated_at, which every writer stamps with the
-- store's clock. History before this migration is not known: the
-- report's stage times begin at its applied_at. Times are Unix
-- milliseconds (UTC).
CREATE TABLE stage_changes (
	id         INTEGER PRIMARY KEY,
	contact_id INTEGER NOT NULL REFERENCES contacts (id),
	stage      TEXT    NOT NULL,
	from_stage TEXT,
	at         INTEGER NOT NULL
);
CREATE INDEX stage_changes_contact ON stage_changes (contact_id, at);
CREATE INDEX stage_changes_at ON stage_changes (at);

CREATE TRIGGER stage_changes_insert AFTER INSERT ON contacts
WHEN NEW.stage IS NOT NULL
BEGIN
	INSERT INTO stage_changes (contact_id, stage, from_stage, at) VALUES (NEW.id, NEW.stage, NULL, NEW.updated_at);
END;

CREATE TRIGGER stage_changes_update AFTER UPDATE OF stage ON contacts
WHEN NEW.stage IS NOT NULL AND NEW.stage IS NOT OLD.stage
BEGIN
	INSERT INTO stage_changes (contact_id, stage, from_stage, at) VALUES (NEW.id, NEW.stage, OLD.stage, NEW.updated_at);
END;
