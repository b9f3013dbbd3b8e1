-- Has the sync ever applied a completion file? (A site upgraded from a release without the
-- go_live setting is live already.)
SELECT TOP (1) 1 AS found FROM MoodleSyncAppliedFile;
