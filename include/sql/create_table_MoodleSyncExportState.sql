-- The sync's own record of what it last sent Moodle for each student. Used for the delta
-- (send only new or changed students), the username clash check, and deprovisioning (a
-- student here who is no longer provisionable was provisioned before).
-- Created by the provisioning DAG when missing; a DBA may run it once instead.
CREATE TABLE MoodleSyncExportState (
    StudentNumber NVARCHAR(20) NOT NULL PRIMARY KEY,
    Username NVARCHAR(100) NOT NULL,
    Fingerprint CHAR(64) NOT NULL,
    Suspended BIT NOT NULL,
    Cohorts NVARCHAR(2000) NULL,
    FileName NVARCHAR(200) NOT NULL,
    ExportedAt DATETIME2 NOT NULL
);

CREATE INDEX IX_MoodleSyncExportState_Username ON MoodleSyncExportState (Username);
