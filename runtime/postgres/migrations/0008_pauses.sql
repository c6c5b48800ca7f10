-- Sequences an operator paused, or all sending (sequence ''): their
-- enrollments are not advanced and their planned email is not delivered
-- until the row is removed. Who paused, when and why stay with it.
CREATE TABLE pauses (
	sequence  TEXT    PRIMARY KEY,
	paused_by TEXT    NOT NULL,
	reason    TEXT    NOT NULL,
	paused_at TIMESTAMPTZ NOT NULL
);

-- Contacts erased on request (nurture contacts erase): who erased one,
-- when, why, and how many rows of each kind went. It names no address
-- and no contact: the suppression that keeps the address from being
-- mailed again is the only trace of it.
CREATE TABLE erasures (
	id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	erased_at TIMESTAMPTZ NOT NULL,
	erased_by TEXT    NOT NULL,
	reason    TEXT    NOT NULL,
	removed   TEXT    NOT NULL
);
