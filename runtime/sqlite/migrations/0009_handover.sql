-- Recovery of a stopped worker's claims.

-- handover_at is written, durably, immediately before a claimed send's
-- message is handed to the mail server. A claim that outlived its lease
-- without it provably never reached the server and is planned again; one
-- with it may have, and becomes unknown.
ALTER TABLE sends ADD COLUMN handover_at INTEGER;
