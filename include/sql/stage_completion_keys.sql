-- One id a completion file names, upper-cased (SQL Server's default collation compares
-- identifiers case-insensitively, and so does the sync on any engine): a student
-- (UserKey, with CourseKey '') or a Moodle course (CourseKey, with UserKey ''). The sync sends
-- many rows per statement (INSERT ... VALUES (...), (...), ... within SQL Server's limits).
INSERT INTO MoodleSyncCompletionStage (BatchId, UserKey, CourseKey)
VALUES (@BatchId, @UserKey, @CourseKey);
