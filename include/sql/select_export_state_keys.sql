-- What the provisioning run compares every student with (SPEC section 4b): per state row, the
-- student it follows, the username and fingerprint last sent, and whether it was a suspension.
-- The rest of a row (the identity last sent) is read only for the students whose case needs it
-- (select_export_state.sql).
SELECT
    StudentNumber AS student_number,
    StudentID AS student_id,
    Username AS username,
    Fingerprint AS fingerprint,
    Suspended AS suspended
FROM MoodleSyncExportState;
