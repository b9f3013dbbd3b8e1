-- The ledger of completion files applied to PowerPro, keyed by the SHA-256 of their content:
-- a file already applied is never applied twice, even when Moodle delivers it again or a run
-- died between the commit and the move. The row is written in the same transaction as the
-- outcomes. ErrorsCsv keeps the errors file so a re-run can still leave it beside the file;
-- Anomalies (JSON: the conflicts and refused rows, at most 200, plus counts per reason) lets any
-- later sighting of the same content restate them in the sync log.
-- Created by the resulting DAG when missing; a DBA may run it once instead.
CREATE TABLE MoodleSyncAppliedFile (
    ContentHash CHAR(64) NOT NULL PRIMARY KEY,
    FileName NVARCHAR(260) NOT NULL,
    AppliedAt DATETIME2 NOT NULL,
    DagId NVARCHAR(250) NOT NULL,
    RunId NVARCHAR(250) NOT NULL,
    RowsRead INT NOT NULL,
    RowsWritten INT NOT NULL,
    RowsSkipped INT NOT NULL,
    RowsRejected INT NOT NULL,
    ErrorsCsv NVARCHAR(MAX) NULL,
    MovedTo NVARCHAR(400) NULL,
    Anomalies NVARCHAR(MAX) NULL
);
