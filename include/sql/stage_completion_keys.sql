-- One (student, Moodle course) pair of a completion file, upper-cased: SQL Server's default
-- collation compares identifiers case-insensitively, and so does the sync on any engine.
INSERT INTO MoodleSyncCompletionStage (BatchId, UserKey, CourseKey)
VALUES (@BatchId, @UserKey, @CourseKey);
