-- 002_event_data: every event carries its structure as data.
--
-- Until now an event had only a sentence for people ("install -> verify:
-- setup complete"), and whoever needed the structure (the run report,
-- notifications) had to read it back out of the text. data holds it as a
-- compact JSON object, written by the daemon in the same transaction as the
-- state the event records; its shape per kind is documented in
-- schema/control-protocol.md ("events").
--
-- Rows written before this migration keep data NULL: nothing is invented
-- for them. ADD COLUMN changes no row, so the append-only triggers of
-- migration 1 are not involved.
ALTER TABLE events ADD COLUMN data TEXT
	CHECK (data IS NULL OR
	       CASE WHEN json_valid(data) THEN json_type(data) = 'object'
	            ELSE 0 END);
