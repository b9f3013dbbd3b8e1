-- One E-Learning Sync Log row per task instance (written by the sync log callback).
INSERT INTO ELearningSyncLog (
    LoggedAt, Direction, DagId, RunId, TaskId, MapIndex, TryNumber, Status,
    RowsRead, RowsWritten, RowsSkipped, RowsRejected, Message, Details
)
VALUES (
    @LoggedAt, @Direction, @DagId, @RunId, @TaskId, @MapIndex, @TryNumber, @Status,
    @RowsRead, @RowsWritten, @RowsSkipped, @RowsRejected, @Message, @Details
);
