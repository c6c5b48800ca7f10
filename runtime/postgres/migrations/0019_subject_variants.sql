-- The subject line a send got when its email tests more than one: the
-- variant's name, chosen from the send's key when the send is planned,
-- the same one delivery renders. NULL: the email has one subject.
ALTER TABLE sends ADD COLUMN subject_variant TEXT;
