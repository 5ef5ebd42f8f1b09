// Owner sessions for the LAN web UI: first-run setup, login with the
// passphrase or the recovery key, passphrase change, logout and expiry, CSRF
// tokens and the per-address backoff on failed attempts.
//
// A session holds the owner's unwrapped secret key (libsodium guarded memory)
// so playback can decrypt; ending the session for any reason destroys it.
// Everything here runs on the daemon's loop thread except the Argon2id work,
// which runs on one worker thread and hands its result back through Post.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "audit.h"
#include "clock.h"
#include "expected.h"
#include "keys.h"

namespace porchlight::web {

/// Runs a function on the daemon's loop thread (asio::post in the daemon).
using Post = std::function<void(std::function<void()>)>;

struct Session {
    std::string token;   // the cookie value: 32 random bytes, base64url
    std::string csrf;    // sent back in a header on every state change
    std::string client;  // the address that logged in, for the audit log
    Clock::TimePoint created;
    Clock::TimePoint lastSeen;
    keys::OwnerKeyPair key;
    /// Expires with the session: streams that use \a key hold a weak_ptr to it.
    std::shared_ptr<int> alive = std::make_shared<int>(0);
};

struct SetupResult {
    std::string recoveryKey;  // shown to the owner once, never stored
    Session* session = nullptr;
};

class Auth {
public:
    struct Options {
        std::chrono::seconds idle{15 * 60};
        std::chrono::seconds maxLifetime{12 * 60 * 60};
        std::chrono::seconds sweepInterval{60};
        /// Failures allowed before the backoff starts, the first wait, its cap.
        int freeFailures = 3;
        std::chrono::milliseconds firstBackoff{1000};
        std::chrono::milliseconds maxBackoff{5 * 60 * 1000};
        /// A client's failure count is forgotten after this long without one.
        std::chrono::seconds forgetFailures{24 * 60 * 60};
    };
    using SetupCallback = std::function<void(Expected<SetupResult>)>;
    using LoginCallback = std::function<void(Expected<Session*>)>;
    using DoneCallback = std::function<void(Expected<void>)>;

    Auth(Clock& clock, Post post, std::filesystem::path stateDir, audit::AuditLog& audit,
         Options options);
    Auth(Clock& clock, Post post, std::filesystem::path stateDir, audit::AuditLog& audit)
        : Auth(clock, std::move(post), std::move(stateDir), audit, Options{}) {}
    ~Auth();
    Auth(const Auth&) = delete;
    Auth& operator=(const Auth&) = delete;

    /// The one-time code that proves the person setting up can read the
    /// daemon's log; setup is closed while it is empty.
    void setSetupCode(std::string code);
    bool ownerExists() const;

    /// Every callback runs later on the loop thread (through Post), never
    /// inside the call, also when the answer is an immediate refusal.
    void setup(std::string_view code, std::string_view passphrase, std::string_view confirm,
               const std::string& client, SetupCallback cb);
    void login(std::string_view passphrase, const std::string& client, LoginCallback cb);
    void loginWithRecoveryKey(std::string_view recoveryKey, const std::string& client,
                              LoginCallback cb);
    /// Re-wrap the owner's key under \a newPassphrase (as porchlight-vault
    /// change-passphrase does), after proving again who is asking: \a current
    /// is the current passphrase or, with \a withRecoveryKey, the recovery key,
    /// checked by unwrapping the key on the worker. A wrong one counts as a
    /// failed attempt (backoff, audit) and nothing is written. On success every
    /// other session ends (whoever knew the old passphrase is logged out);
    /// \a session stays.
    void changePassphrase(Session& session, std::string_view current, bool withRecoveryKey,
                          std::string_view newPassphrase, DoneCallback cb);
    void logout(std::string_view token);

    /// The live session for a cookie value, or nullptr; marks it as used.
    Session* find(std::string_view token);
    bool checkCsrf(const Session& session, std::string_view header) const;
    /// How long \a client must wait before its next attempt is considered.
    std::chrono::milliseconds retryAfter(const std::string& client) const;

    /// Runs as a session ends (logout, idle, lifetime), before it is destroyed:
    /// what it opened (a live view) closes with it.
    std::function<void(const Session&)> onSessionEnded;

    /// For tests: how many key derivations were started, and live sessions.
    size_t kdfRuns() const { return kdfRuns_.load(); }
    size_t sessionCount() const { return sessions_.size(); }

private:
    struct Attempts {
        int failures = 0;
        Clock::TimePoint blockedUntil{};
        Clock::TimePoint lastFailure{};
    };
    using Job = std::function<void()>;

    using Unlock = Expected<keys::OwnerKeyPair> (*)(const std::filesystem::path&, std::string_view);
    /// Both logins: checks, the key derivation on the worker, the session.
    void startLogin(std::string secret, const char* method, Unlock unlock,
                    const std::string& client, LoginCallback cb);
    std::optional<Error> refuseEarly(const std::string& client);
    void recordFailure(const std::string& client, const std::string& method,
                       const std::string& reason);
    Session* createSession(keys::OwnerKeyPair key, const std::string& client);
    void endSession(const std::string& key, const char* reason);
    void sweep();
    void scheduleSweep();
    void runOnWorker(Job job);
    /// Wrap a continuation so it does nothing if Auth is gone by the time it runs.
    void deliver(std::function<void()> fn);
    void workerLoop();

    Clock& clock_;
    Post post_;
    std::filesystem::path stateDir_;
    audit::AuditLog& audit_;
    Options options_;
    std::string setupCode_;
    bool setupInFlight_ = false;

    std::map<std::string, std::unique_ptr<Session>> sessions_;  // by hash of the token
    std::map<std::string, Attempts> attempts_;                  // by client address
    std::map<std::string, bool> inFlight_;                      // clients with a KDF pending
    std::unique_ptr<Timer> sweepTimer_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    const std::weak_ptr<bool> aliveWeak_ = alive_;  // copied by the worker; never changes

    std::atomic<size_t> kdfRuns_{0};
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> jobs_;
    bool stopping_ = false;
    std::thread worker_;
};

}  // namespace porchlight::web
