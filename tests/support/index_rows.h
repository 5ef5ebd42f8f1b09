// The recording index's segment rows, read with SQLite directly: process
// tests look at what porchlightd left behind without linking the daemon.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace porchlight::test {

struct IndexRow {
    int64_t id = 0;
    uint64_t sequence = 0;
    int64_t startUs = 0;
    int64_t endUs = 0;
    uint64_t bytes = 0;
    std::string path;
    int state = -1;  // 0 writing, 1 complete, 2 repaired
};

/// \a camera's rows by start time; on failure an empty list and \a error set.
inline std::vector<IndexRow> readIndex(const std::filesystem::path& state,
                                       const std::string& camera, std::string& error) {
    std::vector<IndexRow> rows;
    sqlite3* db = nullptr;
    const std::string file = (state / "index.db").string();
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        error = "cannot open " + file + ": " + (db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return rows;
    }
    sqlite3_stmt* st = nullptr;
    const char* sql =
        "SELECT id, sequence, start_us, end_us, bytes, path, state FROM segment "
        "WHERE camera = ?1 ORDER BY start_us";
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
        error = std::string("cannot read the index: ") + sqlite3_errmsg(db);
        sqlite3_close(db);
        return rows;
    }
    sqlite3_bind_text(st, 1, camera.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        IndexRow r;
        r.id = sqlite3_column_int64(st, 0);
        r.sequence = static_cast<uint64_t>(sqlite3_column_int64(st, 1));
        r.startUs = sqlite3_column_int64(st, 2);
        r.endUs = sqlite3_column_int64(st, 3);
        r.bytes = static_cast<uint64_t>(sqlite3_column_int64(st, 4));
        r.path = reinterpret_cast<const char*>(sqlite3_column_text(st, 5));
        r.state = sqlite3_column_int(st, 6);
        rows.push_back(r);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rows;
}

}  // namespace porchlight::test
