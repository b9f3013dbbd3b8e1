-- The units each Moodle course of a completion file stands for: its MoodleCourseUnit mapping
-- (one Moodle course -> several units; mapped = 1), and the unit whose UnitCode equals the
-- course idnumber (mapped = 0). The sync prefers the explicit mapping when both exist.
SELECT
    UPPER(m.MoodleCourseIdNumber) AS course_key,
    u.UnitCode AS unit_code,
    1 AS mapped
FROM MoodleCourseUnit AS m
JOIN Unit AS u ON UPPER(u.UnitCode) = UPPER(m.UnitCode)
WHERE UPPER(m.MoodleCourseIdNumber) IN (
    SELECT st.CourseKey FROM MoodleSyncCompletionStage AS st WHERE st.BatchId = @BatchId AND st.CourseKey <> ''
)
UNION ALL
SELECT
    UPPER(u.UnitCode) AS course_key,
    u.UnitCode AS unit_code,
    0 AS mapped
FROM Unit AS u
WHERE UPPER(u.UnitCode) IN (
    SELECT st.CourseKey FROM MoodleSyncCompletionStage AS st WHERE st.BatchId = @BatchId AND st.CourseKey <> ''
);
