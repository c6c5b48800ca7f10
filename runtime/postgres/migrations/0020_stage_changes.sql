-- When each contact reached each lifecycle stage. Triggers on contacts
-- write a row whenever a contact is stored with a stage or its stage
-- changes — an import (COPY fires them too), the contacts API, a step, a
-- hand-off, a return — in the statement's own transaction, so that no
-- writer can forget it. at is the contact's updated_at, which every
-- writer stamps with the store's clock. History before this migration is
-- not known: the report's stage times begin at its applied_at.
CREATE TABLE stage_changes (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	contact_id BIGINT NOT NULL REFERENCES contacts (id),
	stage      TEXT   NOT NULL,
	from_stage TEXT,
	at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX stage_changes_contact ON stage_changes (contact_id, at);
CREATE INDEX stage_changes_at ON stage_changes (at);

CREATE FUNCTION nurture_stage_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO stage_changes (contact_id, stage, from_stage, at) VALUES (NEW.id, NEW.stage, NULL, NEW.updated_at);
	ELSE
		INSERT INTO stage_changes (contact_id, stage, from_stage, at) VALUES (NEW.id, NEW.stage, OLD.stage, NEW.updated_at);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER stage_changes_insert AFTER INSERT ON contacts
FOR EACH ROW WHEN (NEW.stage IS NOT NULL) EXECUTE FUNCTION nurture_stage_changed();

CREATE TRIGGER stage_changes_update AFTER UPDATE OF stage ON contacts
FOR EACH ROW WHEN (NEW.stage IS NOT NULL AND NEW.stage IS DISTINCT FROM OLD.stage) EXECUTE FUNCTION nurture_stage_changed();
