-- The event that brought a contact to where it is in a sequence: the
-- one that entered it, or the one a wait_for waited for. A planned send
-- keeps the one it was planned with, so that {{ trigger.PROP }} merges
-- what that event said, however late other events arrive.
ALTER TABLE enrollments ADD COLUMN trigger_event TEXT;
ALTER TABLE sends ADD COLUMN trigger_event TEXT;
