-- Every completion file the resulting DAG took from the inbox, per run: what became of it
-- (applied, a repeat of content applied before, or rejected and why) and where it was moved.
-- A cleared and re-run task finds its file here after the file has left the inbox, so it
-- restates the record instead of turning green with "nothing to do"; and content rejected once
-- is rejected again with the same reason. Created by the resulting DAG when missing.
CREATE TABLE MoodleSyncInboxFile (
    RunId NVARCHAR(250) NOT NULL,
    FileName NVARCHAR(260) NOT NULL,
    DagId NVARCHAR(250) NOT NULL,
    ContentHash CHAR(64) NOT NULL,
    Outcome NVARCHAR(20) NOT NULL,
    Reason NVARCHAR(4000) NULL,
    MoveTarget NVARCHAR(400) NULL,
    MovedTo NVARCHAR(400) NULL,
    HandledAt DATETIME2 NOT NULL,
    PRIMARY KEY (RunId, FileName)
);

CREATE INDEX IX_MoodleSyncInboxFile_ContentHash ON MoodleSyncInboxFile (ContentHash, Outcome);
