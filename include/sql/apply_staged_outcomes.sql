-- Write a file's staged outcomes in one set-based UPDATE ... FROM, marked as coming from the
-- Moodle sync. The last condition is the guarantee that an outcome entered by a person (or any
-- other source) is never overwritten, even if it was entered after the sync read the row.
-- (A file stages each EnrolmentUnitID at most once.)
UPDATE EnrolmentUnit
SET OutcomeCode = st.OutcomeCode,
    OutcomeDate = st.OutcomeDate,
    OutcomeSource = 'Moodle sync',
    ModifiedAt = @ModifiedAt
FROM MoodleSyncOutcomeStage AS st
WHERE st.BatchId = @BatchId
  AND st.EnrolmentUnitID = EnrolmentUnit.EnrolmentUnitID
  AND (EnrolmentUnit.OutcomeCode IS NULL OR EnrolmentUnit.OutcomeCode = ''
       OR EnrolmentUnit.OutcomeSource = 'Moodle sync');
