-- The arm of a holdout an enrollment was assigned to with its first
-- decision: treatment, control (the sequence's holdout) or
-- global_control (the programme's). NULL: no holdout was in force when
-- it started. Recorded, never recomputed, so that a holdout changed
-- later does not move the contacts already in the sequence from one arm
-- to the other.
ALTER TABLE enrollments ADD COLUMN arm TEXT;
