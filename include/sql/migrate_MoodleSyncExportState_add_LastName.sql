-- Upgrade from release 0.1: the state keeps the identity fields last sent, so that a student
-- who loses access is suspended under the identity Moodle knows. Release 0.1 kept only a
-- fingerprint of them: back-filled from Student.LastName by StudentNumber (what PowerPro holds
-- at the upgrade), and replaced by what is sent from then on.
ALTER TABLE MoodleSyncExportState ADD LastName NVARCHAR(100) NULL;
GO
UPDATE MoodleSyncExportState
SET LastName = (SELECT s.LastName FROM Student AS s WHERE s.StudentNumber = MoodleSyncExportState.StudentNumber)
WHERE LastName IS NULL;
