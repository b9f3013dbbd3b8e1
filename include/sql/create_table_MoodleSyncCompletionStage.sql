-- Scratch space for one completion file's identifiers (upper-cased), so the lookups below are
-- set-based joins rather than one round trip per row. Rows live only inside the file's
-- transaction, tagged with its BatchId.
CREATE TABLE MoodleSyncCompletionStage (
    BatchId NVARCHAR(64) NOT NULL,
    UserKey NVARCHAR(100) NOT NULL,
    CourseKey NVARCHAR(100) NOT NULL
);

CREATE INDEX IX_MoodleSyncCompletionStage_Batch ON MoodleSyncCompletionStage (BatchId);
