-- Upgrade from release 0.1: the Moodle auth last sent. Release 0.1 did not record it; NULL
-- means the moodle_auth setting, which is what release 0.1 sent.
ALTER TABLE MoodleSyncExportState ADD Auth NVARCHAR(50) NULL;
