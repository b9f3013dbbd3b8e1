-- PowerPro RTO reference schema (SPEC section 3).
--
-- PowerPro's real schema belongs to its vendor. This file is what the shipped SQL targets and
-- what the demo database and the tests build. The DAGs NEVER run it: they never create or
-- alter PowerPro's own tables. The sync's own tables are the create_table_MoodleSync*.sql
-- files one folder up.

CREATE TABLE Student (
    StudentID INT NOT NULL PRIMARY KEY,
    StudentNumber NVARCHAR(20) NOT NULL UNIQUE,
    FirstName NVARCHAR(100) NOT NULL,
    LastName NVARCHAR(100) NOT NULL,
    PreferredName NVARCHAR(100) NULL,
    Email NVARCHAR(255) NULL
);

CREATE TABLE Course (
    CourseID INT NOT NULL PRIMARY KEY,
    CourseCode NVARCHAR(50) NOT NULL,
    CourseName NVARCHAR(200) NOT NULL,
    StartDate DATE NULL,
    EndDate DATE NULL,
    MoodleProvision BIT NOT NULL DEFAULT 0,
    MoodleCohort NVARCHAR(100) NULL
);

CREATE TABLE Enrolment (
    EnrolmentID INT NOT NULL PRIMARY KEY,
    StudentID INT NOT NULL REFERENCES Student (StudentID),
    CourseID INT NOT NULL REFERENCES Course (CourseID),
    Status NVARCHAR(20) NOT NULL,
    MoodleProvision BIT NOT NULL DEFAULT 1
);

CREATE TABLE Unit (
    UnitID INT NOT NULL PRIMARY KEY,
    UnitCode NVARCHAR(20) NOT NULL UNIQUE,
    UnitName NVARCHAR(200) NOT NULL
);

CREATE TABLE EnrolmentUnit (
    EnrolmentUnitID INT NOT NULL PRIMARY KEY,
    EnrolmentID INT NOT NULL REFERENCES Enrolment (EnrolmentID),
    UnitID INT NOT NULL REFERENCES Unit (UnitID),
    OutcomeCode NVARCHAR(3) NULL,
    OutcomeDate DATE NULL,
    OutcomeSource NVARCHAR(50) NULL,
    ModifiedAt DATETIME2 NULL
);

CREATE TABLE MoodleCourseUnit (
    MoodleCourseIdNumber NVARCHAR(100) NOT NULL,
    UnitCode NVARCHAR(20) NOT NULL,
    PRIMARY KEY (MoodleCourseIdNumber, UnitCode)
);

CREATE TABLE ELearningSyncLog (
    SyncLogID INT IDENTITY(1, 1) NOT NULL PRIMARY KEY,
    LoggedAt DATETIME2 NOT NULL,
    Direction NVARCHAR(20) NOT NULL,
    DagId NVARCHAR(250) NOT NULL,
    RunId NVARCHAR(250) NOT NULL,
    TaskId NVARCHAR(250) NOT NULL,
    MapIndex INT NULL,
    TryNumber INT NULL,
    Status NVARCHAR(20) NOT NULL,
    RowsRead INT NULL,
    RowsWritten INT NULL,
    RowsSkipped INT NULL,
    RowsRejected INT NULL,
    Message NVARCHAR(4000) NULL,
    Details NVARCHAR(MAX) NULL
);
