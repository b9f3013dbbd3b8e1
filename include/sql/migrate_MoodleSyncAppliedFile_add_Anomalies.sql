-- Upgrade from release 0.1: the ledger keeps each applied file's conflicts and refused rows, so
-- a retry or a repeat delivery restates them in the sync log. Files applied by 0.1 keep NULL
-- here; the sync then restates them from their ErrorsCsv.
ALTER TABLE MoodleSyncAppliedFile ADD Anomalies NVARCHAR(MAX) NULL;
