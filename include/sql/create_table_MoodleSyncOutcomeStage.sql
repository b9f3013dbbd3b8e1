-- Scratch space for one completion file's decided outcomes, applied to EnrolmentUnit by one
-- set-based UPDATE (apply_staged_outcomes.sql). Rows live only inside the file's transaction.
CREATE TABLE MoodleSyncOutcomeStage (
    BatchId NVARCHAR(64) NOT NULL,
    EnrolmentUnitID INT NOT NULL,
    OutcomeCode NVARCHAR(3) NOT NULL,
    OutcomeDate DATE NOT NULL
);

CREATE INDEX IX_MoodleSyncOutcomeStage_Batch ON MoodleSyncOutcomeStage (BatchId, EnrolmentUnitID);
