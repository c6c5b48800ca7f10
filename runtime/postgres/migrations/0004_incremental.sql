-- An incremental tick looks only at contacts that changed or that time
-- alone moves across a condition. Each index below finds the contacts of
-- one kind of turning point by a range of a stored time.

-- When a score last crossed a threshold the programme tests: a score
-- that only drifts with decay between two thresholds changes nothing.
ALTER TABLE scores ADD COLUMN changed_at TIMESTAMPTZ;
CREATE INDEX scores_changed ON scores (changed_at);

-- Inactivity rules: the last engagement, or the creation of a contact
-- who never engaged.
CREATE INDEX contacts_engaged ON contacts ((COALESCE(last_engaged_at, created_at)));

-- Exit rules that fire a span after entry, and contacts an exit freed for
-- other sequences or re-entry.
CREATE INDEX enrollments_entered ON enrollments (sequence, entered_at) WHERE state = 'active';
CREATE INDEX enrollments_exited ON enrollments (exited_at);

-- When each tick began by the store's clock, which stamps imports: the
-- next tick looks at what changed since, whatever time --now gave.
ALTER TABLE ticks ADD COLUMN started_at TIMESTAMPTZ;
