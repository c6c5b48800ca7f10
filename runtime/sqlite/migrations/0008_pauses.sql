-- Sequences an operator paused, or all sending (sequence ''): their
-- enrollments are not advanced and their planned email is not delivered
-- until the row is removed. Who paused, when and why stay with it.
CREATE TABLE pauses (
	sequence  TEXT    PRIMARY KEY,
	paused_by TEXT    NOT NULL,
	reason    TEXT    NOT NULL,
	paused_at INTEGER NOT NULL
);
