-- Delivery under faults.

-- optout_serial moves whenever a suppression or a preference is
-- written, in the same transaction. A worker delivering compares it
-- before each message and re-reads the opt-outs of what it holds only
-- when it moved: once an unsubscribe commits, no message for the address
-- is handed over, at the cost of one lookup per message. Triggers, so
-- that no way of writing those tables can forget it; per statement, so
-- that a bulk import moves it once.
CREATE TABLE optout_serial (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	serial BIGINT  NOT NULL
);
INSERT INTO optout_serial (id, serial) VALUES (1, 0);

CREATE FUNCTION optout_serial_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE optout_serial SET serial = serial + 1 WHERE id = 1;
	RETURN NULL;
END;
$$;

CREATE TRIGGER suppressions_serial AFTER INSERT ON suppressions
	FOR EACH STATEMENT EXECUTE FUNCTION optout_serial_bump();
CREATE TRIGGER preferences_serial AFTER INSERT OR UPDATE ON preferences
	FOR EACH STATEMENT EXECUTE FUNCTION optout_serial_bump();

-- A worker claims a pool's worth of sends at a time, oldest first, by
-- (planned_at, id): with id in the index the claim reads its few rows
-- in order instead of sorting every planned send each time. It replaces
-- sends_status, its prefix.
CREATE INDEX sends_due ON sends (status, planned_at, id);
DROP INDEX sends_status;
