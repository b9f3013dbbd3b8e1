-- What the sync last sent Moodle for some students (SPEC section 4b): the state rows of these
-- StudentNumbers (@StateNumbers: at most 2000 a call, within SQL Server's 2100 parameters).
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
FROM MoodleSyncExportState
WHERE StudentNumber IN (@StateNumbers);
