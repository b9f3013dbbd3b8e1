-- Record students as sent to Moodle (after the users file was uploaded): one row each, sent in
-- multi-row batches (PowerProDb.insert_rows). The rows they replace were deleted first in the
-- same transaction (delete_exported_students.sql).
INSERT INTO MoodleSyncExportState (
    StudentNumber, StudentID, Username, FirstName, LastName, AlternateName, Email, Auth, Fingerprint, Suspended,
    Cohorts, FileName, ExportedAt
) VALUES (
    @StudentNumber, @StudentID, @Username, @FirstName, @LastName, @AlternateName, @Email, @Auth, @Fingerprint,
    @Suspended, @Cohorts, @FileName, @ExportedAt
);
