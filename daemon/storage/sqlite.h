// Small RAII wrappers over the SQLite C API: a connection and a prepared
// statement, with errors as values carrying SQLite's own message.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "expected.h"

namespace porchlight::sql {

class Statement;

class Database {
public:
    static Expected<Database> open(const std::string& path);
    Database() = default;
    Database(Database&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
    Database& operator=(Database&& o) noexcept;
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    /// Run one or more statements without results.
    Expected<void> exec(std::string_view sql);
    Expected<Statement> prepare(std::string_view sql);
    int64_t lastInsertId() const { return sqlite3_last_insert_rowid(db_); }
    int changes() const { return sqlite3_changes(db_); }
    std::string errorMessage() const { return db_ ? sqlite3_errmsg(db_) : "no database"; }
    sqlite3* handle() const { return db_; }

private:
    explicit Database(sqlite3* db) : db_(db) {}
    sqlite3* db_ = nullptr;
};

class Statement {
public:
    Statement(Statement&& o) noexcept : stmt_(o.stmt_), db_(o.db_) { o.stmt_ = nullptr; }
    Statement& operator=(Statement&& o) noexcept;
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, int64_t value);
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view value);
    Statement& bindNull(int index);
    Statement& bindBlob(int index, const std::vector<uint8_t>& value);
    template <typename T>
    Statement& bind(int index, const std::optional<T>& value) {
        return value ? bind(index, *value) : bindNull(index);
    }

    /// Advance: true with a row, false when done; an error otherwise.
    Expected<bool> step();
    /// Step to completion, for statements without results.
    Expected<void> run();
    void reset();

    int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
    double real(int column) const { return sqlite3_column_double(stmt_, column); }
    std::string text(int column) const;
    std::vector<uint8_t> blob(int column) const;
    bool isNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

private:
    friend class Database;
    Statement(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
    sqlite3_stmt* stmt_ = nullptr;
    sqlite3* db_ = nullptr;
};

/// BEGIN IMMEDIATE ... COMMIT, rolled back unless commit() was called.
class Transaction {
public:
    explicit Transaction(Database& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    bool began() const { return began_; }
    Expected<void> commit();

private:
    Database& db_;
    bool began_ = false;
    bool done_ = false;
};

}  // namespace porchlight::sql
