-- Enrolments to provision in Moodle (SPEC section 4): the Course's and the Enrolment's
-- "provision to Moodle" flags are both ticked, and the enrolment's status is one of
-- @ProvisionedStatuses (the provisioned_statuses setting, upper-cased; default ACTIVE).
-- Courses without a usable MoodleCohort are returned too: the sync reports them.
SELECT
    e.EnrolmentID AS enrolment_id,
    s.StudentNumber AS student_number,
    s.FirstName AS first_name,
    s.LastName AS last_name,
    s.PreferredName AS preferred_name,
    s.Email AS email,
    c.CourseCode AS course_code,
    c.MoodleCohort AS moodle_cohort
FROM Enrolment AS e
JOIN Student AS s ON s.StudentID = e.StudentID
JOIN Course AS c ON c.CourseID = e.CourseID
WHERE c.MoodleProvision = 1
  AND e.MoodleProvision = 1
  AND UPPER(e.Status) IN (@ProvisionedStatuses)
ORDER BY s.StudentNumber, e.EnrolmentID;
