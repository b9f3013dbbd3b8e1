-- Record one student as sent to Moodle (after the users file was uploaded): update the state
-- row the student had (@StateNumber: its StudentNumber before this run, which a rename
-- changes), or insert it when the student was never sent.
UPDATE MoodleSyncExportState
SET StudentNumber = @StudentNumber,
    StudentID = @StudentID,
    Username = @Username,
    FirstName = @FirstName,
    LastName = @LastName,
    AlternateName = @AlternateName,
    Email = @Email,
    Auth = @Auth,
    Fingerprint = @Fingerprint,
    Suspended = @Suspended,
    Cohorts = @Cohorts,
    FileName = @FileName,
    ExportedAt = @ExportedAt
WHERE StudentNumber = @StateNumber;

INSERT INTO MoodleSyncExportState (
    StudentNumber, StudentID, Username, FirstName, LastName, AlternateName, Email, Auth, Fingerprint, Suspended,
    Cohorts, FileName, ExportedAt
)
SELECT
    @StudentNumber, @StudentID, @Username, @FirstName, @LastName, @AlternateName, @Email, @Auth, @Fingerprint,
    @Suspended, @Cohorts, @FileName, @ExportedAt
WHERE NOT EXISTS (SELECT 1 FROM MoodleSyncExportState WHERE StudentNumber = @StudentNumber);
