-- Every enrollment of a contact in a sequence, whatever its state: re-entry
-- rules and plans ask whether a contact was ever in one.
CREATE INDEX enrollments_contact ON enrollments (contact_id, sequence);
