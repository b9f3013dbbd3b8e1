-- Write a file's staged outcomes in one set-based UPDATE, marked as coming from the Moodle
-- sync. The last condition is the guarantee that an outcome entered by a person (or any
-- other source) is never overwritten, even if it was entered after the sync read the row.
UPDATE EnrolmentUnit
SET OutcomeCode = (
        SELECT st.OutcomeCode FROM MoodleSyncOutcomeStage AS st
        WHERE st.BatchId = @BatchId AND st.EnrolmentUnitID = EnrolmentUnit.EnrolmentUnitID
    ),
    OutcomeDate = (
        SELECT st.OutcomeDate FROM MoodleSyncOutcomeStage AS st
        WHERE st.BatchId = @BatchId AND st.EnrolmentUnitID = EnrolmentUnit.EnrolmentUnitID
    ),
    OutcomeSource = 'Moodle sync',
    ModifiedAt = @ModifiedAt
WHERE EnrolmentUnitID IN (
        SELECT st.EnrolmentUnitID FROM MoodleSyncOutcomeStage AS st WHERE st.BatchId = @BatchId
    )
  AND (OutcomeCode IS NULL OR OutcomeCode = '' OR OutcomeSource = 'Moodle sync');
