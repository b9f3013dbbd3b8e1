-- Clear one file's scratch rows (inside its transaction).
DELETE FROM MoodleSyncCompletionStage WHERE BatchId = @BatchId;

DELETE FROM MoodleSyncOutcomeStage WHERE BatchId = @BatchId;
