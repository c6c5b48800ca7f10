-- Delivery under faults.

-- optout_serial moves whenever a suppression or a preference is
-- written, in the same transaction. A worker delivering compares it
-- before each message and re-reads the opt-outs of what it holds only
-- when it moved: once an unsubscribe commits, no message for the address
-- is handed over, at the cost of one lookup per message. Triggers, so
-- that no way of writing those tables can forget it.
CREATE TABLE optout_serial (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	serial INTEGER NOT NULL
);
INSERT INTO optout_serial (id, serial) VALUES (1, 0);

CREATE TRIGGER suppressions_serial AFTER INSERT ON suppressions
BEGIN
	UPDATE optout_serial SET serial = serial + 1 WHERE id = 1;
END;

CREATE TRIGGER preferences_serial_insert AFTER INSERT ON preferences
BEGIN
	UPDATE optout_serial SET serial = serial + 1 WHERE id = 1;
END;

CREATE TRIGGER preferences_serial_update AFTER UPDATE ON preferences
BEGIN
	UPDATE optout_serial SET serial = serial + 1 WHERE id = 1;
END;

-- A worker claims a pool's worth of sends at a time, oldest first, by
-- (planned_at, id): with id in the index the claim reads its few rows
-- in order instead of sorting every planned send each time. It replaces
-- sends_status, its prefix.
CREATE INDEX sends_due ON sends (status, planned_at, id);
DROP INDEX sends_status;
