-- What the sync last sent Moodle, per student (SPEC section 4b).
SELECT
    StudentNumber AS student_number,
    StudentID AS student_id,
    Username AS username,
    FirstName AS firstname,
    LastName AS lastname,
    AlternateName AS alternatename,
    Email AS email,
    Auth AS auth,
    Fingerprint AS fingerprint,
    Suspended AS suspended,
    Cohorts AS cohorts
FROM MoodleSyncExportState;
