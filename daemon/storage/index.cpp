// The recording index: see index.h.
#include "index.h"

#include <cstdio>
#include <ctime>

namespace porchlight::storage {

namespace {

// Version 1 as first shipped; later versions are steps from it, never edits of it.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE segment (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    start_us INTEGER NOT NULL,
    end_us INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    path TEXT NOT NULL UNIQUE,
    state INTEGER NOT NULL,
    UNIQUE (camera, sequence)
);
CREATE INDEX segment_camera_start ON segment (camera, start_us);
CREATE TABLE garbage (
    path TEXT PRIMARY KEY
);
)sql";

constexpr const char* kUpgradeV1toV2 = R"sql(
ALTER TABLE segment ADD COLUMN protected INTEGER NOT NULL DEFAULT 0;
CREATE INDEX segment_start ON segment (start_us);
CREATE TABLE retention (
    camera TEXT PRIMARY KEY,
    max_days REAL,
    max_bytes INTEGER
);
)sql";

constexpr const char* kUpgradeV2toV3 = R"sql(
CREATE TABLE event (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    kind INTEGER NOT NULL,
    start_us INTEGER NOT NULL,
    end_us INTEGER NOT NULL,
    protected INTEGER NOT NULL DEFAULT 0,
    details BLOB,
    snapshot TEXT
);
CREATE INDEX event_camera_start ON event (camera, start_us);
)sql";

// The owner's per-kind retention (set from the web UI) must outlive a restart too.
constexpr const char* kUpgradeV3toV4 = R"sql(
ALTER TABLE retention ADD COLUMN continuous_days REAL;
ALTER TABLE retention ADD COLUMN motion_days REAL;
ALTER TABLE retention ADD COLUMN ring_days REAL;
)sql";

// A segment is protected when it is, or when a protected event overlaps it.
constexpr const char* kNotProtected =
    " protected = 0 AND NOT EXISTS (SELECT 1 FROM event e WHERE e.camera = segment.camera AND "
    "e.protected != 0 AND e.start_us < segment.end_us AND (e.end_us = 0 OR e.end_us > "
    "segment.start_us)) ";

constexpr const char* kColumns =
    "id, camera, sequence, start_us, end_us, bytes, path, state, protected";

SegmentRow readRow(const sql::Statement& s) {
    SegmentRow r;
    r.id = s.integer(0);
    r.camera = s.text(1);
    r.sequence = static_cast<uint64_t>(s.integer(2));
    r.startUs = s.integer(3);
    r.endUs = s.integer(4);
    r.bytes = static_cast<uint64_t>(s.integer(5));
    r.path = s.text(6);
    r.state = static_cast<SegmentState>(s.integer(7));
    r.isProtected = s.integer(8) != 0;
    return r;
}

/// Every row a statement yields, read by \a read.
template <typename Row>
Expected<std::vector<Row>> collectRows(sql::Statement& s, Row (*read)(const sql::Statement&)) {
    std::vector<Row> rows;
    for (;;) {
        auto r = s.step();
        if (!r)
            return r.error();
        if (!*r)
            break;
        rows.push_back(read(s));
    }
    return rows;
}

Expected<std::vector<SegmentRow>> collect(sql::Statement& s) {
    return collectRows(s, &readRow);
}

}  // namespace

std::string segmentRelativePath(const std::string& camera, uint64_t sequence, int64_t startUs) {
    time_t secs = static_cast<time_t>(startUs / 1'000'000);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    char day[48];
    std::snprintf(day, sizeof day, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    char name[64];
    std::snprintf(name, sizeof name, "%012llu-%lld.plseg",
                  static_cast<unsigned long long>(sequence), static_cast<long long>(startUs));
    return "recordings/" + camera + "/" + day + "/" + name;
}

Expected<Index> Index::open(const std::filesystem::path& stateDir) {
    Index index;
    index.stateDir_ = stateDir;
    auto db = sql::Database::open((stateDir / "index.db").string());
    if (!db)
        return db.error();
    index.db_ = std::move(*db);
    // WAL: readers never block the writer. synchronous=NORMAL: a commit is not
    // fsynced at once; a power cut can lose the last commits, which start-up
    // rebuilds from the segment files themselves (see docs/RELIABILITY.md).
    // secure_delete: deleted rows are overwritten, not left in free pages.
    if (auto r = index.db_.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                                "PRAGMA secure_delete=ON; PRAGMA foreign_keys=ON;");
        !r)
        return r.error();
    if (auto r = index.migrate(); !r)
        return r.error();
    return index;
}

Expected<void> Index::migrate() {
    auto v = db_.prepare("PRAGMA user_version");
    if (!v)
        return v.error();
    auto row = v->step();
    if (!row)
        return row.error();
    int version = static_cast<int>(v->integer(0));
    if (version > kSchemaVersion)
        return makeError("the index was written by a newer Porchlight (schema " +
                         std::to_string(version) + ", this one knows up to " +
                         std::to_string(kSchemaVersion) + "); install that version again");
    if (version == kSchemaVersion) {
        version_ = version;
        return {};
    }
    sql::Transaction tx(db_);
    if (version == 0) {
        if (auto r = db_.exec(kSchemaV1); !r)
            return r.error();
        version = 1;
    }
    if (version == 1) {
        if (auto r = db_.exec(kUpgradeV1toV2); !r)
            return r.error();
        version = 2;
    }
    if (version == 2) {
        if (auto r = db_.exec(kUpgradeV2toV3); !r)
            return r.error();
        version = 3;
    }
    if (version == 3) {
        if (auto r = db_.exec(kUpgradeV3toV4); !r)
            return r.error();
        version = 4;
    }
    if (auto r = db_.exec("PRAGMA user_version = " + std::to_string(version)); !r)
        return r.error();
    if (auto r = tx.commit(); !r)
        return r.error();
    version_ = version;
    return {};
}

Expected<int64_t> Index::addSegment(const SegmentRow& row) {
    auto s = db_.prepare(
        "INSERT INTO segment (camera, sequence, start_us, end_us, bytes, path, state, protected) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!s)
        return s.error();
    s->bind(1, row.camera)
        .bind(2, static_cast<int64_t>(row.sequence))
        .bind(3, row.startUs)
        .bind(4, row.endUs)
        .bind(5, static_cast<int64_t>(row.bytes))
        .bind(6, row.path)
        .bind(7, static_cast<int64_t>(row.state))
        .bind(8, static_cast<int64_t>(row.isProtected));
    if (auto r = s->run(); !r)
        return r.error();
    return db_.lastInsertId();
}

Expected<void> Index::updateSegment(int64_t id, int64_t endUs, uint64_t bytes, SegmentState state) {
    auto s = db_.prepare("UPDATE segment SET end_us = ?, bytes = ?, state = ? WHERE id = ?");
    if (!s)
        return s.error();
    s->bind(1, endUs)
        .bind(2, static_cast<int64_t>(bytes))
        .bind(3, static_cast<int64_t>(state))
        .bind(4, id);
    return s->run();
}

Expected<void> Index::removeSegmentRow(int64_t id) {
    auto s = db_.prepare("DELETE FROM segment WHERE id = ?");
    if (!s)
        return s.error();
    s->bind(1, id);
    return s->run();
}

Expected<std::optional<SegmentRow>> Index::segmentByPath(const std::string& path) {
    auto s = db_.prepare(std::string("SELECT ") + kColumns + " FROM segment WHERE path = ?");
    if (!s)
        return s.error();
    s->bind(1, path);
    auto rows = collect(*s);
    if (!rows)
        return rows.error();
    if (rows->empty())
        return std::optional<SegmentRow>();
    return std::optional<SegmentRow>(rows->front());
}

Expected<std::vector<SegmentRow>> Index::segments(const std::string& camera, int64_t fromUs,
                                                  int64_t toUs) {
    auto s = db_.prepare(std::string("SELECT ") + kColumns +
                         " FROM segment WHERE (?1 = '' OR camera = ?1) AND end_us >= ?2 AND "
                         "start_us < ?3 ORDER BY start_us, camera");
    if (!s)
        return s.error();
    s->bind(1, camera).bind(2, fromUs).bind(3, toUs);
    return collect(*s);
}

Expected<std::vector<SegmentRow>> Index::segmentsInState(SegmentState state) {
    auto s = db_.prepare(std::string("SELECT ") + kColumns +
                         " FROM segment WHERE state = ? ORDER BY camera, sequence");
    if (!s)
        return s.error();
    s->bind(1, static_cast<int64_t>(state));
    return collect(*s);
}

Expected<std::vector<SegmentRow>> Index::oldestDeletable(const std::string& camera, size_t limit) {
    auto s = db_.prepare(std::string("SELECT ") + kColumns +
                         " FROM segment WHERE (?1 = '' OR camera = ?1) AND state != 0 AND " +
                         std::string(kNotProtected) + " ORDER BY start_us LIMIT ?2");
    if (!s)
        return s.error();
    s->bind(1, camera).bind(2, static_cast<int64_t>(limit));
    return collect(*s);
}

Expected<std::vector<SegmentRow>> Index::endedBefore(const std::string& camera, int64_t beforeUs) {
    auto s = db_.prepare(std::string("SELECT ") + kColumns +
                         " FROM segment WHERE camera = ? AND start_us < ? AND end_us < ? AND "
                         "state != 0 AND " +
                         std::string(kNotProtected) + " ORDER BY start_us");
    if (!s)
        return s.error();
    s->bind(1, camera).bind(2, beforeUs).bind(3, beforeUs);
    return collect(*s);
}

namespace {
Expected<std::map<std::string, CameraUsage>> readUsage(sql::Database& db, const char* where) {
    auto s = db.prepare(std::string("SELECT camera, SUM(bytes), COUNT(*), MIN(start_us) FROM "
                                    "segment ") +
                        where + " GROUP BY camera");
    if (!s)
        return s.error();
    std::map<std::string, CameraUsage> out;
    for (;;) {
        auto r = s->step();
        if (!r)
            return r.error();
        if (!*r)
            break;
        CameraUsage u;
        u.bytes = static_cast<uint64_t>(s->integer(1));
        u.segments = static_cast<uint64_t>(s->integer(2));
        if (!s->isNull(3))
            u.oldestUs = s->integer(3);
        out[s->text(0)] = u;
    }
    return out;
}
}  // namespace

Expected<std::map<std::string, CameraUsage>> Index::usage() {
    return readUsage(db_, "");
}

Expected<std::map<std::string, CameraUsage>> Index::protectedUsage() {
    return readUsage(db_, (std::string("WHERE NOT (") + kNotProtected + ")").c_str());
}

Expected<std::map<std::string, CameraUsage>> Index::heldByProtectedEvents() {
    return protectedUsage();
}

Expected<uint64_t> Index::nextSequence(const std::string& camera) {
    auto s = db_.prepare("SELECT MAX(sequence) FROM segment WHERE camera = ?");
    if (!s)
        return s.error();
    s->bind(1, camera);
    auto r = s->step();
    if (!r)
        return r.error();
    return s->isNull(0) ? uint64_t{1} : static_cast<uint64_t>(s->integer(0)) + 1;
}

Expected<std::optional<int64_t>> Index::oldestRecordingUs() {
    auto s = db_.prepare("SELECT MIN(start_us) FROM segment");
    if (!s)
        return s.error();
    auto r = s->step();
    if (!r)
        return r.error();
    if (s->isNull(0))
        return std::optional<int64_t>();
    return std::optional<int64_t>(s->integer(0));
}

Expected<void> Index::markGarbage(const std::vector<SegmentRow>& rows) {
    sql::Transaction tx(db_);
    auto del = db_.prepare("DELETE FROM segment WHERE id = ?");
    if (!del)
        return del.error();
    auto add = db_.prepare("INSERT OR IGNORE INTO garbage (path) VALUES (?)");
    if (!add)
        return add.error();
    for (const auto& row : rows) {
        del->bind(1, row.id);
        if (auto r = del->run(); !r)
            return r.error();
        add->bind(1, row.path);
        if (auto r = add->run(); !r)
            return r.error();
    }
    return tx.commit();
}

Expected<std::vector<std::string>> Index::garbage() {
    auto s = db_.prepare("SELECT path FROM garbage ORDER BY path");
    if (!s)
        return s.error();
    std::vector<std::string> out;
    for (;;) {
        auto r = s->step();
        if (!r)
            return r.error();
        if (!*r)
            break;
        out.push_back(s->text(0));
    }
    return out;
}

Expected<void> Index::forgetGarbage(const std::string& path) {
    auto s = db_.prepare("DELETE FROM garbage WHERE path = ?");
    if (!s)
        return s.error();
    s->bind(1, path);
    return s->run();
}

Expected<std::map<std::string, RetentionConfig>> Index::retentionOverrides() {
    auto s = db_.prepare(
        "SELECT camera, max_days, max_bytes, continuous_days, motion_days, ring_days FROM "
        "retention");
    if (!s)
        return s.error();
    std::map<std::string, RetentionConfig> out;
    for (;;) {
        auto r = s->step();
        if (!r)
            return r.error();
        if (!*r)
            break;
        RetentionConfig rc;
        if (!s->isNull(1))
            rc.maxDays = s->real(1);
        if (!s->isNull(2))
            rc.maxBytes = static_cast<uint64_t>(s->integer(2));
        if (!s->isNull(3))
            rc.continuousDays = s->real(3);
        if (!s->isNull(4))
            rc.motionDays = s->real(4);
        if (!s->isNull(5))
            rc.ringDays = s->real(5);
        out[s->text(0)] = rc;
    }
    return out;
}

Expected<void> Index::setRetentionOverride(const std::string& camera, const RetentionConfig& r) {
    auto s = db_.prepare(
        "INSERT INTO retention (camera, max_days, max_bytes, continuous_days, motion_days, "
        "ring_days) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (camera) DO UPDATE SET max_days = excluded.max_days, "
        "max_bytes = excluded.max_bytes, continuous_days = excluded.continuous_days, "
        "motion_days = excluded.motion_days, ring_days = excluded.ring_days");
    if (!s)
        return s.error();
    s->bind(1, camera).bind(2, r.maxDays);
    s->bind(4, r.continuousDays).bind(5, r.motionDays).bind(6, r.ringDays);
    if (r.maxBytes)
        s->bind(3, static_cast<int64_t>(*r.maxBytes));
    else
        s->bindNull(3);
    return s->run();
}

Expected<void> Index::setProtected(int64_t id, bool isProtected) {
    auto s = db_.prepare("UPDATE segment SET protected = ? WHERE id = ?");
    if (!s)
        return s.error();
    s->bind(1, static_cast<int64_t>(isProtected)).bind(2, id);
    return s->run();
}

std::string_view eventKindName(EventKind kind) {
    return kind == EventKind::Ring ? "ring" : "motion";
}

namespace {
constexpr const char* kEventColumns =
    "id, camera, kind, start_us, end_us, protected, details, snapshot";

EventRow readEvent(const sql::Statement& s) {
    EventRow e;
    e.id = s.integer(0);
    e.camera = s.text(1);
    e.kind = static_cast<EventKind>(s.integer(2));
    e.startUs = s.integer(3);
    e.endUs = s.integer(4);
    e.isProtected = s.integer(5) != 0;
    e.details = s.blob(6);
    e.snapshot = s.text(7);
    return e;
}

Expected<std::vector<EventRow>> collectEvents(sql::Statement& s) {
    return collectRows(s, &readEvent);
}
}  // namespace

Expected<int64_t> Index::addEvent(const EventRow& e) {
    auto s = db_.prepare(
        "INSERT INTO event (camera, kind, start_us, end_us, protected, details, snapshot) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!s)
        return s.error();
    s->bind(1, e.camera)
        .bind(2, static_cast<int64_t>(e.kind))
        .bind(3, e.startUs)
        .bind(4, e.endUs)
        .bind(5, static_cast<int64_t>(e.isProtected))
        .bindBlob(6, e.details)
        .bind(7, e.snapshot);
    if (auto r = s->run(); !r)
        return r.error();
    return db_.lastInsertId();
}

Expected<void> Index::endEvent(int64_t id, int64_t endUs) {
    auto s = db_.prepare("UPDATE event SET end_us = ? WHERE id = ?");
    if (!s)
        return s.error();
    s->bind(1, endUs).bind(2, id);
    return s->run();
}

Expected<void> Index::setEventSnapshot(int64_t id, const std::string& path) {
    auto s = db_.prepare("UPDATE event SET snapshot = ? WHERE id = ?");
    if (!s)
        return s.error();
    s->bind(1, path).bind(2, id);
    return s->run();
}

Expected<bool> Index::setEventProtected(int64_t id, bool isProtected) {
    auto s = db_.prepare("UPDATE event SET protected = ? WHERE id = ?");
    if (!s)
        return s.error();
    s->bind(1, static_cast<int64_t>(isProtected)).bind(2, id);
    if (auto r = s->run(); !r)
        return r.error();
    return db_.changes() > 0;
}

Expected<std::optional<EventRow>> Index::event(int64_t id) {
    auto s = db_.prepare(std::string("SELECT ") + kEventColumns + " FROM event WHERE id = ?");
    if (!s)
        return s.error();
    s->bind(1, id);
    auto rows = collectEvents(*s);
    if (!rows)
        return rows.error();
    if (rows->empty())
        return std::optional<EventRow>();
    return std::optional<EventRow>(rows->front());
}

Expected<std::vector<EventRow>> Index::events(const std::string& camera, int64_t fromUs,
                                              int64_t toUs) {
    auto s = db_.prepare(std::string("SELECT ") + kEventColumns +
                         " FROM event WHERE (?1 = '' OR camera = ?1) AND (end_us = 0 OR end_us "
                         ">= ?2) AND start_us < ?3 ORDER BY start_us, id");
    if (!s)
        return s.error();
    s->bind(1, camera).bind(2, fromUs).bind(3, toUs);
    return collectEvents(*s);
}

Expected<bool> Index::hasEventIn(const std::string& camera, std::optional<EventKind> kind,
                                 int64_t fromUs, int64_t toUs) {
    auto s = db_.prepare(
        "SELECT EXISTS (SELECT 1 FROM event WHERE camera = ?1 AND (?2 < 0 OR kind = ?2) AND "
        "start_us < ?4 AND (end_us = 0 OR end_us > ?3))");
    if (!s)
        return s.error();
    s->bind(1, camera)
        .bind(2, kind ? static_cast<int64_t>(*kind) : int64_t{-1})
        .bind(3, fromUs)
        .bind(4, toUs);
    auto r = s->step();
    if (!r)
        return r.error();
    return s->integer(0) != 0;
}

Expected<std::vector<EventRow>> Index::orphanedEvents(const std::string& camera, int64_t beforeUs) {
    auto s = db_.prepare(std::string("SELECT ") + kEventColumns +
                         " FROM event WHERE camera = ?2 AND end_us != 0 AND end_us < ?1 AND "
                         "protected = 0 AND NOT "
                         "EXISTS (SELECT 1 FROM segment s WHERE s.camera = event.camera AND "
                         "s.start_us < event.end_us AND s.end_us > event.start_us)");
    if (!s)
        return s.error();
    s->bind(1, beforeUs).bind(2, camera);
    return collectEvents(*s);
}

Expected<void> Index::removeEvent(int64_t id) {
    auto s = db_.prepare("DELETE FROM event WHERE id = ?");
    if (!s)
        return s.error();
    s->bind(1, id);
    return s->run();
}

}  // namespace porchlight::storage
