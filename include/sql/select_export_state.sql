-- What the sync last sent Moodle, per student.
SELECT
    StudentNumber AS student_number,
    Username AS username,
    Fingerprint AS fingerprint,
    Suspended AS suspended
FROM MoodleSyncExportState;
