-- A contact may pause all marketing email on the preference page until
-- paused_until (Unix milliseconds, UTC); NULL: not paused. Writing it
-- updates the row, so the preferences trigger moves the opt-out serial
-- and delivery's last check before each message reads it.
ALTER TABLE preferences ADD COLUMN paused_until INTEGER;
