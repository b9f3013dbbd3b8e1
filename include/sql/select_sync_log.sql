-- The E-Learning Sync Log, newest first: what the sync log page in the Airflow UI and its JSON
-- (/powerpro-moodle/api/sync-log) read. Every filter is optional: NULL means "any".
--   @DagId, @Status, @RunId   exact match
--   @LoggedFrom, @LoggedBefore  LoggedAt in [from, before): a day in the RTO's local time
--   @FilePattern              a LIKE pattern (escape character \) matched against Details,
--                             which names the file a task handled
--   @Limit                    at most this many rows (1..1000)
SELECT TOP (@Limit)
    SyncLogID, LoggedAt, Direction, DagId, RunId, TaskId, MapIndex, TryNumber, Status,
    RowsRead, RowsWritten, RowsSkipped, RowsRejected, Message, Details
FROM ELearningSyncLog
WHERE (@DagId IS NULL OR DagId = @DagId)
    AND (@Status IS NULL OR Status = @Status)
    AND (@RunId IS NULL OR RunId = @RunId)
    AND (@LoggedFrom IS NULL OR LoggedAt >= @LoggedFrom)
    AND (@LoggedBefore IS NULL OR LoggedAt < @LoggedBefore)
    AND (@FilePattern IS NULL OR Details LIKE @FilePattern ESCAPE '\')
ORDER BY LoggedAt DESC, SyncLogID DESC;
