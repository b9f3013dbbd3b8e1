-- Every EnrolmentUnit row of the students a completion file names, with the enrolment's
-- status (for the course-transfer rule) and the current outcome and its source.
SELECT
    eu.EnrolmentUnitID AS enrolment_unit_id,
    e.EnrolmentID AS enrolment_id,
    e.Status AS enrolment_status,
    s.StudentNumber AS student_number,
    u.UnitCode AS unit_code,
    eu.OutcomeCode AS outcome_code,
    eu.OutcomeDate AS outcome_date,
    eu.OutcomeSource AS outcome_source
FROM EnrolmentUnit AS eu
JOIN Enrolment AS e ON e.EnrolmentID = eu.EnrolmentID
JOIN Student AS s ON s.StudentID = e.StudentID
JOIN Unit AS u ON u.UnitID = eu.UnitID
WHERE UPPER(s.StudentNumber) IN (
    SELECT st.UserKey FROM MoodleSyncCompletionStage AS st WHERE st.BatchId = @BatchId AND st.UserKey <> ''
);
