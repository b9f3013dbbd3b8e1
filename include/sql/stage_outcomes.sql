-- One outcome the sync decided to write (see apply_staged_outcomes.sql).
INSERT INTO MoodleSyncOutcomeStage (BatchId, EnrolmentUnitID, OutcomeCode, OutcomeDate)
VALUES (@BatchId, @EnrolmentUnitID, @OutcomeCode, @OutcomeDate);
