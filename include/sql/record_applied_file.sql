-- Record a completion file as applied, in the same transaction as its outcomes.
INSERT INTO MoodleSyncAppliedFile (
    ContentHash, FileName, AppliedAt, DagId, RunId,
    RowsRead, RowsWritten, RowsSkipped, RowsRejected, ErrorsCsv, MovedTo, Anomalies
)
VALUES (
    @ContentHash, @FileName, @AppliedAt, @DagId, @RunId,
    @RowsRead, @RowsWritten, @RowsSkipped, @RowsRejected, @ErrorsCsv, NULL, @Anomalies
);
