-- The enrolments the provisioning run decides on (SPEC sections 4 and 4b):
-- * every enrolment with both "provision to Moodle" flags ticked (Course and Enrolment) whose
--   status is in @AccessStatuses (the provisioned_statuses and keep_access_statuses settings,
--   upper-cased): the students who may have Moodle access;
-- * every enrolment, whatever its flags and status, of a student the sync has sent before
--   (MoodleSyncExportState): a student none of whose enrolments keeps access is suspended.
-- Which enrolment keeps access (status, flags, the course's EndDate) is decided in Python
-- (formats/lifecycle.py). Courses without a usable MoodleCohort are returned too: the sync
-- reports them.
SELECT
    e.EnrolmentID AS enrolment_id,
    s.StudentID AS student_id,
    s.StudentNumber AS student_number,
    s.FirstName AS first_name,
    s.LastName AS last_name,
    s.PreferredName AS preferred_name,
    s.Email AS email,
    c.CourseCode AS course_code,
    c.MoodleCohort AS moodle_cohort,
    e.Status AS status,
    c.EndDate AS end_date,
    c.MoodleProvision AS course_flag,
    e.MoodleProvision AS enrolment_flag
FROM Enrolment AS e
JOIN Student AS s ON s.StudentID = e.StudentID
JOIN Course AS c ON c.CourseID = e.CourseID
WHERE (c.MoodleProvision = 1 AND e.MoodleProvision = 1 AND UPPER(e.Status) IN (@AccessStatuses))
   OR s.StudentID IN (SELECT x.StudentID FROM MoodleSyncExportState AS x WHERE x.StudentID IS NOT NULL)
   OR s.StudentNumber IN (SELECT x.StudentNumber FROM MoodleSyncExportState AS x WHERE x.StudentID IS NULL)
ORDER BY s.StudentID, e.EnrolmentID;
