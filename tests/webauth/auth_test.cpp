// Web UI sessions: setup with the one-time code, login with the passphrase or
// the recovery key, backoff after failed attempts (without doing the costly
// key derivation), expiry wiping the key, logout, CSRF and passphrase change.
//
// The real Argon2id (64 MiB, ~0.3 s) runs here, so each test keeps its number
// of derivations small.
#include "auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fstream>
#include <optional>
#include <sstream>

#include "fake_clock.h"

using namespace porchlight;
using namespace porchlight::web;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* kCode = "428-913";
constexpr const char* kPass = "correct horse battery";
constexpr const char* kClient = "192.168.1.20";

class AuthTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/auth_test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        auto log = audit::AuditLog::open(dir_, &clock_);
        ASSERT_TRUE(log) << log.error().message;
        audit_ = std::move(*log);
        auth_ = std::make_unique<Auth>(
            clock_, [this](std::function<void()> f) { boost::asio::post(io_, std::move(f)); }, dir_,
            *audit_);
        auth_->setSetupCode(kCode);
    }
    void TearDown() override {
        auth_.reset();
        fs::remove_all(dir_);
    }

    /// Run the loop until the callback given to \a start has run.
    template <typename R>
    R await(const std::function<void(std::function<void(R)>)>& start) {
        std::optional<R> result;
        start([&](R r) { result.emplace(std::move(r)); });
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (!result && std::chrono::steady_clock::now() < deadline)
            io_.run_one_for(100ms);
        EXPECT_TRUE(result.has_value()) << "no answer within 30 s";
        if (!result)
            return R(makeError("timeout"));
        return std::move(*result);
    }
    Expected<SetupResult> setup(const std::string& code, const std::string& pass,
                                const std::string& client = kClient) {
        return await<Expected<SetupResult>>(
            [&](auto cb) { auth_->setup(code, pass, pass, client, cb); });
    }
    Expected<Session*> login(const std::string& pass, const std::string& client = kClient) {
        return await<Expected<Session*>>([&](auto cb) { auth_->login(pass, client, cb); });
    }
    std::vector<nlohmann::json> auditEntries() {
        auto e = audit_->entries(0, 1000);
        EXPECT_TRUE(e);
        return e ? *e : std::vector<nlohmann::json>{};
    }
    std::string auditText() {
        std::ifstream in(audit::auditLogPath(dir_));
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    fs::path dir_;
    test::FakeClock clock_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
        io_.get_executor()};
    std::unique_ptr<audit::AuditLog> audit_;
    std::unique_ptr<Auth> auth_;
};

TEST_F(AuthTest, SetupRefusesAWrongCodeWithoutDerivingAKey) {
    auto r = setup("000-000", kPass);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("wrong setup code"), std::string::npos);
    EXPECT_EQ(auth_->kdfRuns(), 0u);
    EXPECT_FALSE(auth_->ownerExists());
    auto e = auditEntries();
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0]["kind"], "login_failed");
    EXPECT_EQ(e[0]["detail"]["method"], "setup");
}

TEST_F(AuthTest, SetupChecksTheConfirmationAndThePolicy) {
    auto r = await<Expected<SetupResult>>(
        [&](auto cb) { auth_->setup(kCode, kPass, "something else", kClient, cb); });
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("differ"), std::string::npos);
    auto weak = setup(kCode, "short");
    ASSERT_FALSE(weak);
    EXPECT_NE(weak.error().message.find("at least 8"), std::string::npos);
    EXPECT_EQ(auth_->kdfRuns(), 0u);
}

TEST_F(AuthTest, SetupCreatesTheOwnerOnceThenLoginWorks) {
    auto r = setup(kCode, kPass);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_GT(r->recoveryKey.size(), 40u);
    ASSERT_NE(r->session, nullptr);
    EXPECT_EQ(r->session->key.secretKey.size(), size_t{crypto_box_SECRETKEYBYTES});
    EXPECT_EQ(r->session->token.size(), 43u);  // 32 bytes, base64url
    EXPECT_NE(r->session->token, r->session->csrf);
    EXPECT_TRUE(auth_->ownerExists());
    EXPECT_EQ(auth_->find(r->session->token), r->session);
    EXPECT_EQ(auth_->kdfRuns(), 1u);

    auto again = setup(kCode, kPass, "192.168.1.66");
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message.find("already set up"), std::string::npos);
    EXPECT_EQ(auth_->kdfRuns(), 1u);

    auto good = login(kPass);
    ASSERT_TRUE(good) << good.error().message;
    EXPECT_NE(*good, nullptr);
    EXPECT_NE((*good)->token, r->session->token);
    EXPECT_EQ(auth_->sessionCount(), 2u);

    auto bad = login("not the passphrase");
    ASSERT_FALSE(bad);
    EXPECT_EQ(auth_->retryAfter(kClient), 0ms);  // one failure is free

    auto e = auditEntries();
    ASSERT_EQ(e.size(), 3u);
    EXPECT_EQ(e[2]["kind"], "setup");
    EXPECT_EQ(e[1]["kind"], "login");
    EXPECT_EQ(e[0]["kind"], "login_failed");
    EXPECT_EQ(e[0]["who"], kClient);
    const std::string text = auditText();
    EXPECT_EQ(text.find(kPass), std::string::npos);
    EXPECT_EQ(text.find("not the passphrase"), std::string::npos);
    EXPECT_EQ(text.find(kCode), std::string::npos);
    EXPECT_EQ(text.find(r->recoveryKey), std::string::npos);
    auto v = audit::verifyAuditLog(audit::auditLogPath(dir_));
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->ok) << v->problem;
}

TEST_F(AuthTest, FailedLoginsBackOffWithoutDerivingKeys) {
    ASSERT_TRUE(setup(kCode, kPass));
    for (int i = 0; i < 3; ++i)
        ASSERT_FALSE(login("wrong passphrase " + std::to_string(i)));
    EXPECT_EQ(auth_->kdfRuns(), 4u);
    const auto wait = auth_->retryAfter(kClient);
    EXPECT_GT(wait, 0ms);
    EXPECT_LE(wait, 1000ms);

    // Blocked: refused at once, no derivation, even with the right passphrase.
    auto blocked = login(kPass);
    ASSERT_FALSE(blocked);
    EXPECT_NE(blocked.error().message.find("try again in"), std::string::npos);
    EXPECT_EQ(auth_->kdfRuns(), 4u);
    // Another address is not affected by this one's failures.
    EXPECT_EQ(auth_->retryAfter("192.168.1.21"), 0ms);

    // After the wait a fourth failure doubles it.
    clock_.advance(wait);
    EXPECT_EQ(auth_->retryAfter(kClient), 0ms);
    ASSERT_FALSE(login("wrong again"));
    EXPECT_GT(auth_->retryAfter(kClient), 1000ms);
    EXPECT_LE(auth_->retryAfter(kClient), 2000ms);

    // A success resets the count.
    clock_.advance(auth_->retryAfter(kClient));
    ASSERT_TRUE(login(kPass));
    EXPECT_EQ(auth_->retryAfter(kClient), 0ms);
    EXPECT_EQ(auth_->kdfRuns(), 6u);
}

TEST_F(AuthTest, WrongSetupCodesBackOffToo) {
    for (int i = 0; i < 3; ++i)
        ASSERT_FALSE(setup("bad", kPass));
    EXPECT_GT(auth_->retryAfter(kClient), 0ms);
    auto r = setup(kCode, kPass);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("try again in"), std::string::npos);
    EXPECT_EQ(auth_->kdfRuns(), 0u);
}

TEST_F(AuthTest, SessionsExpireWhenIdleAndAfterTheirLifetime) {
    auto r = setup(kCode, kPass);
    ASSERT_TRUE(r);
    const std::string token = r->session->token;

    // Used every 10 minutes: idle never reached, but 12 h is the limit.
    clock_.advance(10min);
    ASSERT_NE(auth_->find(token), nullptr);
    for (int i = 0; i < 70; ++i) {  // to 11 h 50 min
        clock_.advance(10min);
        ASSERT_NE(auth_->find(token), nullptr) << i;
    }
    clock_.advance(10min);  // 12 h since login
    EXPECT_EQ(auth_->find(token), nullptr);
    EXPECT_EQ(auth_->sessionCount(), 0u);

    // Idle: the periodic sweep ends it even when nobody asks.
    auto s = login(kPass);
    ASSERT_TRUE(s);
    const std::string token2 = (*s)->token;
    clock_.advance(14min);
    EXPECT_EQ(auth_->sessionCount(), 1u);
    clock_.advance(2min);
    EXPECT_EQ(auth_->sessionCount(), 0u);
    EXPECT_EQ(auth_->find(token2), nullptr);

    auto e = auditEntries();
    ASSERT_GE(e.size(), 2u);
    EXPECT_EQ(e[0]["kind"], "logout");
    EXPECT_EQ(e[0]["detail"]["reason"], "idle");
    EXPECT_EQ(e[2]["detail"]["reason"], "lifetime");
}

TEST_F(AuthTest, LogoutEndsTheSessionAndCsrfIsChecked) {
    auto r = setup(kCode, kPass);
    ASSERT_TRUE(r);
    Session* s = r->session;
    EXPECT_TRUE(auth_->checkCsrf(*s, s->csrf));
    EXPECT_FALSE(auth_->checkCsrf(*s, ""));
    EXPECT_FALSE(auth_->checkCsrf(*s, s->token));
    std::string tampered = s->csrf;
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    EXPECT_FALSE(auth_->checkCsrf(*s, tampered));
    EXPECT_FALSE(auth_->checkCsrf(*s, s->csrf + "x"));

    const std::string token = s->token;
    EXPECT_EQ(auth_->find("not a token"), nullptr);
    auth_->logout(token);
    EXPECT_EQ(auth_->find(token), nullptr);
    EXPECT_EQ(auth_->sessionCount(), 0u);
    EXPECT_EQ(auditEntries()[0]["kind"], "logout");
    auth_->logout(token);  // twice is harmless
}

TEST_F(AuthTest, RecoveryKeyLoginAndPassphraseChange) {
    auto r = setup(kCode, kPass);
    ASSERT_TRUE(r);
    const std::string recovery = r->recoveryKey;
    auth_->logout(r->session->token);

    auto bad = await<Expected<Session*>>(
        [&](auto cb) { auth_->loginWithRecoveryKey("AAAAA-BBBBB-CCCCC", kClient, cb); });
    ASSERT_FALSE(bad);
    auto s = await<Expected<Session*>>(
        [&](auto cb) { auth_->loginWithRecoveryKey(recovery, kClient, cb); });
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ((*s)->key.publicKey, *keys::loadPublicKey(dir_));

    const std::string newPass = "a new passphrase here";
    auto weak = await<Expected<void>>(
        [&](auto cb) { auth_->changePassphrase(**s, recovery, true, "tiny", cb); });
    ASSERT_FALSE(weak);
    auto changed = await<Expected<void>>(
        [&](auto cb) { auth_->changePassphrase(**s, recovery, true, newPass, cb); });
    ASSERT_TRUE(changed) << changed.error().message;
    EXPECT_EQ(auditEntries()[0]["kind"], "passphrase");

    ASSERT_FALSE(login(kPass));
    auto fresh = login(newPass);
    ASSERT_TRUE(fresh) << fresh.error().message;
    EXPECT_EQ(auditText().find(newPass), std::string::npos);
    EXPECT_EQ(auditText().find(recovery), std::string::npos);
}

TEST_F(AuthTest, LoginBeforeSetupIsRefused) {
    auto r = login(kPass);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("setup"), std::string::npos);
    EXPECT_EQ(auth_->kdfRuns(), 0u);
}

TEST_F(AuthTest, DestroyingAuthWithAJobPendingIsSafe) {
    ASSERT_TRUE(setup(kCode, kPass));
    bool called = false;
    auth_->login(kPass, kClient, [&](Expected<Session*>) { called = true; });
    auth_.reset();  // joins the worker; the posted answer must not run
    io_.run_for(50ms);
    EXPECT_FALSE(called);
}

}  // namespace
