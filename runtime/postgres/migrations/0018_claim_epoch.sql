-- Delivery's hand-over marks commit asynchronously on PostgreSQL: a
-- worker that dies loses nothing the server acknowledged, but the server
-- crashing may lose the last marks. claimed_epoch is the server's start
-- time when the send was claimed; recovery treats an unmarked claim of an
-- earlier start as possibly handed over (unknown), never planned again.
ALTER TABLE sends ADD COLUMN claimed_epoch TIMESTAMPTZ;
