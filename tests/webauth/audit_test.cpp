// The audit log: entries chain, read back newest first, and every kind of
// tampering (edit, delete, reorder, insert, cut tail) is found by the check;
// a line torn by a crash is repaired when the log is opened.
#include "audit.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "fake_clock.h"

using namespace porchlight;
using namespace porchlight::web::audit;
namespace fs = std::filesystem;

namespace {

class AuditTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/audit_test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { fs::remove_all(dir_); }

    void writeEntries(int n) {
        auto log = AuditLog::open(dir_, &clock_);
        ASSERT_TRUE(log) << log.error().message;
        for (int i = 0; i < n; ++i) {
            auto ok = (*log)->append(i % 2 ? "playback" : "login", "192.168.1.7",
                                     {{"camera", "door"}, {"n", i}});
            ASSERT_TRUE(ok) << ok.error().message;
            clock_.advance(std::chrono::seconds(1));
        }
    }
    std::vector<std::string> lines() {
        std::ifstream in(auditLogPath(dir_));
        std::vector<std::string> out;
        for (std::string l; std::getline(in, l);)
            out.push_back(l);
        return out;
    }
    void writeLines(const std::vector<std::string>& ls) {
        std::ofstream out(auditLogPath(dir_), std::ios::trunc);
        for (const auto& l : ls)
            out << l << "\n";
    }
    std::string readFile(const fs::path& p) {
        std::ifstream in(p);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    AuditReport verify() {
        auto r = verifyAuditLog(auditLogPath(dir_));
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        return r ? *r : AuditReport{};
    }

    fs::path dir_;
    test::FakeClock clock_;
};

TEST_F(AuditTest, EntriesChainAndReadBackNewestFirst) {
    writeEntries(5);
    auto log = AuditLog::open(dir_, &clock_);
    ASSERT_TRUE(log);
    EXPECT_EQ((*log)->lastSeq(), 5u);
    auto all = (*log)->entries(0, 100);
    ASSERT_TRUE(all);
    ASSERT_EQ(all->size(), 5u);
    EXPECT_EQ((*all)[0]["seq"], 5);
    EXPECT_EQ((*all)[4]["seq"], 1);
    EXPECT_EQ((*all)[4]["prev"], kGenesisHash);
    EXPECT_EQ((*all)[3]["prev"], (*all)[4]["hash"]);
    EXPECT_EQ((*all)[0]["who"], "192.168.1.7");
    EXPECT_EQ((*all)[0]["detail"]["camera"], "door");
    const int64_t t0 = (*all)[4]["time_us"].get<int64_t>();
    EXPECT_EQ((*all)[3]["time_us"].get<int64_t>() - t0, 1'000'000);
    auto page = (*log)->entries(1, 2);
    ASSERT_TRUE(page);
    ASSERT_EQ(page->size(), 2u);
    EXPECT_EQ((*page)[0]["seq"], 4);
    EXPECT_EQ((*page)[1]["seq"], 3);

    auto r = verify();
    EXPECT_TRUE(r.ok) << r.problem;
    EXPECT_EQ(r.entries, 5u);
    EXPECT_EQ(r.lastHash, (*all)[0]["hash"]);
}

TEST_F(AuditTest, ContinuesTheChainAfterReopening) {
    writeEntries(2);
    writeEntries(2);
    auto r = verify();
    EXPECT_TRUE(r.ok) << r.problem;
    EXPECT_EQ(r.entries, 4u);
}

TEST_F(AuditTest, UnknownKindRefused) {
    auto log = AuditLog::open(dir_, &clock_);
    ASSERT_TRUE(log);
    EXPECT_FALSE((*log)->append("coffee", "x"));
}

TEST_F(AuditTest, EmptyLogIsSound) {
    auto r = verify();
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.entries, 0u);
}

TEST_F(AuditTest, EditedByteFoundWithItsLine) {
    writeEntries(5);
    auto ls = lines();
    auto pos = ls[2].find("door");
    ASSERT_NE(pos, std::string::npos);
    ls[2][pos] = 'D';
    writeLines(ls);
    auto r = verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.line, 3u);
    EXPECT_NE(r.problem.find("hash mismatch"), std::string::npos) << r.problem;
}

TEST_F(AuditTest, EditedByteMakingJsonInvalidFound) {
    writeEntries(3);
    auto ls = lines();
    ls[1][0] = 'x';
    writeLines(ls);
    auto r = verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.line, 2u);
    EXPECT_NE(r.problem.find("unparsable"), std::string::npos) << r.problem;
}

TEST_F(AuditTest, DeletedLineFound) {
    writeEntries(5);
    auto ls = lines();
    ls.erase(ls.begin() + 1);
    writeLines(ls);
    auto r = verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.line, 2u);
    EXPECT_NE(r.problem.find("seq gap"), std::string::npos) << r.problem;
}

TEST_F(AuditTest, DeletedFirstLineFound) {
    writeEntries(3);
    auto ls = lines();
    ls.erase(ls.begin());
    writeLines(ls);
    auto r = verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.line, 1u);
}

TEST_F(AuditTest, ReorderedLinesFound) {
    writeEntries(5);
    auto ls = lines();
    std::swap(ls[2], ls[3]);
    writeLines(ls);
    auto r = verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.line, 3u);
}

TEST_F(AuditTest, InsertedLineFound) {
    writeEntries(3);
    auto ls = lines();
    ls.insert(ls.begin() + 1, ls[0]);  // a replayed copy of entry 1
    writeLines(ls);
    auto r = verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.line, 2u);
}

TEST_F(AuditTest, CutTailFoundThroughTheHead) {
    writeEntries(4);
    auto ls = lines();
    ls.pop_back();
    writeLines(ls);
    auto r = verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.line, 4u);
    EXPECT_NE(r.problem.find("cut from the end"), std::string::npos) << r.problem;
}

TEST_F(AuditTest, MissingHeadFound) {
    writeEntries(2);
    fs::remove(auditHeadPath(dir_));
    auto r = verify();
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.problem.find("audit.head"), std::string::npos) << r.problem;
}

TEST_F(AuditTest, HeadOneBehindIsTheCrashWindowAndAccepted) {
    writeEntries(2);
    const std::string head = readFile(auditHeadPath(dir_));
    writeEntries(1);
    std::ofstream(auditHeadPath(dir_), std::ios::trunc) << head;
    auto r = verify();
    EXPECT_TRUE(r.ok) << r.problem;
    // Opening brings the head up to date.
    ASSERT_TRUE(AuditLog::open(dir_, &clock_));
    EXPECT_NE(readFile(auditHeadPath(dir_)), head);
}

TEST_F(AuditTest, TornTailRepairedAtOpen) {
    writeEntries(3);
    {
        std::ofstream out(auditLogPath(dir_), std::ios::app);
        out << R"({"detail":{},"kind":"login","pr)";
    }
    auto before = verify();
    EXPECT_FALSE(before.ok);
    EXPECT_EQ(before.line, 4u);
    EXPECT_NE(before.problem.find("incomplete"), std::string::npos) << before.problem;

    auto log = AuditLog::open(dir_, &clock_);
    ASSERT_TRUE(log) << log.error().message;
    EXPECT_EQ((*log)->lastSeq(), 3u);
    ASSERT_TRUE((*log)->append("logout", "192.168.1.7"));
    auto r = verify();
    EXPECT_TRUE(r.ok) << r.problem;
    EXPECT_EQ(r.entries, 4u);
}

TEST_F(AuditTest, DamagedLastLineRefusesToOpen) {
    writeEntries(2);
    auto ls = lines();
    ls.back()[5] ^= 1;
    writeLines(ls);
    auto log = AuditLog::open(dir_, &clock_);
    ASSERT_FALSE(log);
    EXPECT_NE(log.error().message.find("audit-verify"), std::string::npos);
}

TEST_F(AuditTest, InvalidUtf8InDetailIsStoredSafely) {
    auto log = AuditLog::open(dir_, &clock_);
    ASSERT_TRUE(log);
    ASSERT_TRUE((*log)->append("settings", "porchlightctl", {{"name", std::string("a\xff b")}}));
    auto r = verify();
    EXPECT_TRUE(r.ok) << r.problem;
}

}  // namespace
