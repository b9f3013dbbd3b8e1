-- The sync's own record of what it last sent Moodle for each student (SPEC sections 4 and 4b).
-- Used for the delta (send only new or changed students), the username clash check, and the
-- lifecycle: a student here who keeps no access is suspended once, with the identity fields
-- last sent (Username ... Auth); Suspended says whether the last row sent suspended them.
--
-- The state follows PowerPro's StudentID, so a corrected StudentNumber is not a new student.
-- StudentNumber stays the primary key (release 0.1's, which SQLite cannot alter in place): it
-- is the idnumber last sent, and is updated when a rename is sent. StudentID is NULL only on a
-- row release 0.1 wrote for a StudentNumber no student had when the table was migrated.
-- Created by the provisioning DAG when missing; a DBA may run it once instead.
CREATE TABLE MoodleSyncExportState (
    StudentNumber NVARCHAR(20) NOT NULL PRIMARY KEY,
    StudentID INT NULL,
    Username NVARCHAR(100) NOT NULL,
    FirstName NVARCHAR(100) NULL,
    LastName NVARCHAR(100) NULL,
    AlternateName NVARCHAR(100) NULL,
    Email NVARCHAR(255) NULL,
    Auth NVARCHAR(50) NULL,
    Fingerprint CHAR(64) NOT NULL,
    Suspended BIT NOT NULL,
    Cohorts NVARCHAR(2000) NULL,
    FileName NVARCHAR(200) NOT NULL,
    ExportedAt DATETIME2 NOT NULL
);

CREATE INDEX IX_MoodleSyncExportState_Username ON MoodleSyncExportState (Username);

CREATE INDEX IX_MoodleSyncExportState_StudentID ON MoodleSyncExportState (StudentID);
