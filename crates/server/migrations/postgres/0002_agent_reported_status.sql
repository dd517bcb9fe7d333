-- The free-form state an agent reports in its heartbeat (`idle`, `auditing`, ...), shown in
-- the admin views. NULL until the first heartbeat; older agents never send one.
-- Adding a nullable column without a default is a catalogue-only change: no table rewrite.
ALTER TABLE agents ADD COLUMN reported_status TEXT;
