-- Before the students sent again are recorded (insert_exported_student.sql): their state rows as
-- they were before the run (@StateNumbers: the StudentNumber each row had, which a rename
-- changes; at most 2000 a call, within SQL Server's 2100 parameters).
DELETE FROM MoodleSyncExportState
WHERE StudentNumber IN (@StateNumbers);
