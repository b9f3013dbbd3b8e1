-- Upgrade from release 0.1: the state follows PowerPro's StudentID, so that a corrected
-- StudentNumber is not taken for a new student (a second Moodle account).
-- Back-filled from Student by StudentNumber; a row whose StudentNumber no student has any
-- more keeps NULL (the sync adopts it if a student gets that number back, else suspends the
-- account once, as one nobody in PowerPro holds).
ALTER TABLE MoodleSyncExportState ADD StudentID INT NULL;
GO
UPDATE MoodleSyncExportState
SET StudentID = (SELECT s.StudentID FROM Student AS s WHERE s.StudentNumber = MoodleSyncExportState.StudentNumber)
WHERE StudentID IS NULL;

CREATE INDEX IX_MoodleSyncExportState_StudentID ON MoodleSyncExportState (StudentID);
