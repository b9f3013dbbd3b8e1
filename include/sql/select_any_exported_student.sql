-- Has the sync ever sent a student? (A site upgraded from a release without the go_live setting
-- is live already.)
SELECT TOP (1) 1 AS found FROM MoodleSyncExportState;
