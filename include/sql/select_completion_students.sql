-- The PowerPro students a completion file names (user_idnumber = StudentNumber).
SELECT DISTINCT
    UPPER(s.StudentNumber) AS user_key,
    s.StudentNumber AS student_number
FROM Student AS s
WHERE UPPER(s.StudentNumber) IN (
    SELECT st.UserKey FROM MoodleSyncCompletionStage AS st WHERE st.BatchId = @BatchId AND st.UserKey <> ''
);
