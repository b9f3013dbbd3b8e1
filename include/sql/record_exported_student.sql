-- Record one student as sent to Moodle (after the users file was uploaded): update the
-- existing row, or insert it when the student was never sent.
UPDATE MoodleSyncExportState
SET Username = @Username,
    Fingerprint = @Fingerprint,
    Suspended = @Suspended,
    Cohorts = @Cohorts,
    FileName = @FileName,
    ExportedAt = @ExportedAt
WHERE StudentNumber = @StudentNumber;

INSERT INTO MoodleSyncExportState (StudentNumber, Username, Fingerprint, Suspended, Cohorts, FileName, ExportedAt)
SELECT @StudentNumber, @Username, @Fingerprint, @Suspended, @Cohorts, @FileName, @ExportedAt
WHERE NOT EXISTS (SELECT 1 FROM MoodleSyncExportState WHERE StudentNumber = @StudentNumber);
