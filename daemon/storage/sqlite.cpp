// SQLite wrappers: see sqlite.h.
#include "sqlite.h"

namespace porchlight::sql {

Expected<Database> Database::open(const std::string& path) {
    sqlite3* db = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        return makeError("cannot open " + path + ": " + msg);
    }
    sqlite3_extended_result_codes(db, 1);
    // A busy database means another process (the vault tool) holds it briefly.
    sqlite3_busy_timeout(db, 5000);
    return Database(db);
}

Database& Database::operator=(Database&& o) noexcept {
    if (this != &o) {
        if (db_)
            sqlite3_close(db_);
        db_ = o.db_;
        o.db_ = nullptr;
    }
    return *this;
}

Database::~Database() {
    if (db_)
        sqlite3_close(db_);
}

Expected<void> Database::exec(std::string_view sql) {
    char* err = nullptr;
    std::string text(sql);
    if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : errorMessage();
        sqlite3_free(err);
        return makeError("index: " + msg);
    }
    return {};
}

Expected<Statement> Database::prepare(std::string_view sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
        SQLITE_OK)
        return makeError("index: " + errorMessage() + " in: " + std::string(sql));
    return Statement(stmt, db_);
}

Statement& Statement::operator=(Statement&& o) noexcept {
    if (this != &o) {
        if (stmt_)
            sqlite3_finalize(stmt_);
        stmt_ = o.stmt_;
        db_ = o.db_;
        o.stmt_ = nullptr;
    }
    return *this;
}

Statement::~Statement() {
    if (stmt_)
        sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
}
Statement& Statement::bind(int index, double value) {
    sqlite3_bind_double(stmt_, index, value);
    return *this;
}
Statement& Statement::bind(int index, std::string_view value) {
    sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    return *this;
}
Statement& Statement::bindBlob(int index, const std::vector<uint8_t>& value) {
    sqlite3_bind_blob(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    return *this;
}

std::vector<uint8_t> Statement::blob(int column) const {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, column));
    const int n = sqlite3_column_bytes(stmt_, column);
    return p ? std::vector<uint8_t>(p, p + n) : std::vector<uint8_t>();
}

Statement& Statement::bindNull(int index) {
    sqlite3_bind_null(stmt_, index);
    return *this;
}

Expected<bool> Statement::step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    return makeError(std::string("index: ") + sqlite3_errmsg(db_));
}

Expected<void> Statement::run() {
    for (;;) {
        auto r = step();
        if (!r)
            return r.error();
        if (!*r)
            break;
    }
    reset();
    return {};
}

void Statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

std::string Statement::text(int column) const {
    const unsigned char* t = sqlite3_column_text(stmt_, column);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
             : std::string();
}

Transaction::Transaction(Database& db) : db_(db) {
    began_ = db_.exec("BEGIN IMMEDIATE").hasValue();
}

Transaction::~Transaction() {
    if (began_ && !done_)
        (void)db_.exec("ROLLBACK");
}

Expected<void> Transaction::commit() {
    if (!began_)
        return makeError("index: could not begin a transaction: " + db_.errorMessage());
    done_ = true;
    return db_.exec("COMMIT");
}

}  // namespace porchlight::sql
