-- Per day, what the sync did: the chart on the sync log page in the Airflow UI.
-- The @Days most recent days with a finished task (success or failed; a try that will be
-- retried is counted by its last try), up to @LoggedBefore when given, for one DAG when @DagId
-- is given. Dry runs write nothing and are left out, so their rejections are not counted twice.
SELECT TOP (@Days)
    CAST(LoggedAt AS DATE) AS LoggedOn,
    SUM(CASE WHEN Direction = 'Resulting' THEN COALESCE(RowsWritten, 0) ELSE 0 END) AS OutcomesWritten,
    SUM(CASE WHEN Direction = 'Provisioning' THEN COALESCE(RowsWritten, 0) ELSE 0 END) AS StudentsSent,
    SUM(COALESCE(RowsRejected, 0)) AS RecordsRejected
FROM ELearningSyncLog
WHERE Status IN ('success', 'failed')
    AND (Details IS NULL OR Details NOT LIKE '%"dry_run": true%')
    AND (@DagId IS NULL OR DagId = @DagId)
    AND (@LoggedBefore IS NULL OR LoggedAt < @LoggedBefore)
GROUP BY CAST(LoggedAt AS DATE)
ORDER BY LoggedOn DESC;
