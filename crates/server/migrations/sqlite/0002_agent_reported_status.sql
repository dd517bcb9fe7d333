-- The free-form state an agent reports in its heartbeat (`idle`, `auditing`, ...), shown in
-- the admin views. NULL until the first heartbeat; older agents never send one.
ALTER TABLE agents ADD COLUMN reported_status TEXT;
