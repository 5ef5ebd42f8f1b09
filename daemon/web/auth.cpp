// Owner sessions, setup and login for the web UI: see auth.h.
#include "auth.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "log.h"

PL_DEFINE_LOG_CATEGORY(AuthLog, "auth")

namespace porchlight::web {

using nlohmann::json;

namespace {

/// More queued derivations than this and new attempts are turned away: each
/// one is 64 MiB and a third of a second, and the Pi has to keep recording.
constexpr size_t kMaxQueuedJobs = 4;

std::string randomToken() {
    std::array<unsigned char, 32> bytes{};
    randombytes_buf(bytes.data(), bytes.size());
    std::array<char, 64> text{};  // base64url of 32 bytes is 43 characters
    sodium_bin2base64(text.data(), text.size(), bytes.data(), bytes.size(),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(bytes.data(), bytes.size());
    return std::string(text.data());
}

/// Sessions are found by a hash of the token, so the map's ordinary
/// (not constant-time) string comparisons reveal nothing about live tokens.
std::string tokenKey(std::string_view token) {
    std::array<unsigned char, crypto_generichash_BYTES> out{};
    crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(token.data()),
                       token.size(), nullptr, 0);
    return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

bool equalSecret(std::string_view a, std::string_view b) {
    return a.size() == b.size() && !a.empty() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe(std::string& s) {
    if (!s.empty())
        sodium_memzero(s.data(), s.size());
    s.clear();
}

}  // namespace

Auth::Auth(Clock& clock, Post post, std::filesystem::path stateDir, audit::AuditLog& audit,
           Options options)
    : clock_(clock),
      post_(std::move(post)),
      stateDir_(std::move(stateDir)),
      audit_(audit),
      options_(options) {
    if (sodium_init() < 0)
        PL_LOG(AuthLog, Error) << "libsodium could not start";
    worker_ = std::thread([this] { workerLoop(); });
    scheduleSweep();
}

Auth::~Auth() {
    sweepTimer_.reset();
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        jobs_.clear();
    }
    wake_.notify_all();
    if (worker_.joinable())
        worker_.join();
    // Only now: the worker may have been reading it to post a result.
    alive_.reset();
    wipe(setupCode_);
    // sessions_ goes last: each OwnerKeyPair frees (and wipes) its guarded memory.
}

void Auth::workerLoop() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (stopping_)
                return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        kdfRuns_.fetch_add(1);
        job();
    }
}

void Auth::runOnWorker(Job job) {
    {
        std::lock_guard lock(mutex_);
        jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
}

void Auth::deliver(std::function<void()> fn) {
    // Called from the worker too: post_ itself must be thread-safe (asio::post is),
    // and alive_ is only read here through a weak pointer copied on the loop
    // (aliveWeak_), never reset while the worker runs (~Auth joins it first).
    post_([alive = aliveWeak_, fn = std::move(fn)] {
        if (!alive.expired())
            fn();
    });
}

void Auth::setSetupCode(std::string code) {
    wipe(setupCode_);
    setupCode_ = std::move(code);
}

bool Auth::ownerExists() const {
    return keys::ownerExists(stateDir_);
}

std::chrono::milliseconds Auth::retryAfter(const std::string& client) const {
    auto it = attempts_.find(client);
    if (it == attempts_.end())
        return std::chrono::milliseconds(0);
    const auto now = clock_.now();
    if (it->second.blockedUntil <= now)
        return std::chrono::milliseconds(0);
    // Round up: "0 ms" would invite an immediate retry that is still refused.
    return std::chrono::ceil<std::chrono::milliseconds>(it->second.blockedUntil - now);
}

std::optional<Error> Auth::refuseEarly(const std::string& client) {
    if (auto wait = retryAfter(client); wait.count() > 0) {
        const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
        return makeError("too many failed attempts from this address; try again in " +
                         std::to_string(seconds) + " s");
    }
    if (inFlight_.count(client))
        return makeError(
            "an attempt from this address is still being checked; wait for its answer");
    std::lock_guard lock(mutex_);
    if (jobs_.size() >= kMaxQueuedJobs)
        return makeError("the device is busy checking other attempts; try again in a moment");
    return std::nullopt;
}

void Auth::recordFailure(const std::string& client, const std::string& method,
                         const std::string& reason) {
    auto& a = attempts_[client];
    const auto now = clock_.now();
    a.failures += 1;
    a.lastFailure = now;
    std::chrono::milliseconds wait{0};
    if (a.failures >= options_.freeFailures) {
        const int doublings = std::min(a.failures - options_.freeFailures, 20);
        wait = std::min(options_.firstBackoff * (int64_t{1} << doublings), options_.maxBackoff);
        a.blockedUntil = now + wait;
    }
    PL_LOG(AuthLog, Warning) << "failed " << method << " from " << client << " (" << reason << "); "
                             << a.failures << " in a row"
                             << (wait.count() > 0 ? ", next attempt allowed in " +
                                                        std::to_string(wait.count()) + " ms"
                                                  : std::string());
    if (auto ok =
            audit_.append("login_failed", client,
                          json{{"method", method}, {"reason", reason}, {"failures", a.failures}});
        !ok)
        PL_LOG(AuthLog, Error) << "cannot record a failed login in the audit log: "
                               << ok.error().message;
}

Session* Auth::createSession(keys::OwnerKeyPair key, const std::string& client) {
    auto s = std::make_unique<Session>();
    s->token = randomToken();
    s->csrf = randomToken();
    s->client = client;
    s->created = clock_.now();
    s->lastSeen = s->created;
    s->key = std::move(key);
    Session* raw = s.get();
    sessions_[tokenKey(raw->token)] = std::move(s);
    return raw;
}

void Auth::endSession(const std::string& key, const char* reason) {
    auto it = sessions_.find(key);
    if (it == sessions_.end())
        return;
    const std::string client = it->second->client;
    if (onSessionEnded)
        onSessionEnded(*it->second);
    sessions_.erase(it);  // frees the guarded memory holding the secret key
    PL_LOG(AuthLog, Info) << "session of " << client << " ended (" << reason << ")";
    if (auto ok = audit_.append("logout", client, json{{"reason", reason}}); !ok)
        PL_LOG(AuthLog, Error) << "cannot record a logout in the audit log: " << ok.error().message;
}

void Auth::setup(std::string_view code, std::string_view passphrase, std::string_view confirm,
                 const std::string& client, SetupCallback cb) {
    auto refuse = [&](Error e) { deliver([cb, e = std::move(e)] { cb(e); }); };
    if (ownerExists())
        return refuse(makeError("already set up: an owner exists, log in instead"));
    if (setupInFlight_)
        return refuse(makeError("setup is already under way"));
    if (auto e = refuseEarly(client))
        return refuse(*e);
    if (!equalSecret(code, setupCode_)) {
        recordFailure(client, "setup", "wrong setup code");
        return refuse(
            makeError("wrong setup code; the code is in porchlightd's log and shown by "
                      "`porchlightctl setup-code`"));
    }
    if (passphrase != confirm)
        return refuse(makeError("the passphrase and its confirmation differ"));
    if (auto ok = keys::checkPassphrase(passphrase); !ok)
        return refuse(ok.error());

    setupInFlight_ = true;
    inFlight_[client] = true;
    runOnWorker([this, pass = std::string(passphrase), client, cb]() mutable {
        auto created =
            std::make_shared<Expected<keys::CreatedOwner>>(keys::createOwner(stateDir_, pass));
        wipe(pass);
        deliver([this, created, client, cb = std::move(cb)] {
            setupInFlight_ = false;
            inFlight_.erase(client);
            if (!*created) {
                PL_LOG(AuthLog, Error)
                    << "setup from " << client << " failed: " << created->error().message;
                cb(created->error());
                return;
            }
            Session* s = createSession(std::move((*created)->keyPair), client);
            wipe(setupCode_);  // one time only
            attempts_.erase(client);
            PL_LOG(AuthLog, Notice) << "owner key created by setup from " << client;
            if (auto ok = audit_.append("setup", client, json::object()); !ok)
                PL_LOG(AuthLog, Error)
                    << "cannot record setup in the audit log: " << ok.error().message;
            SetupResult r;
            r.recoveryKey = std::move((*created)->recoveryKey);
            r.session = s;
            cb(std::move(r));
        });
    });
}

void Auth::login(std::string_view passphrase, const std::string& client, LoginCallback cb) {
    startLogin(std::string(passphrase), "passphrase", &keys::unlockWithPassphrase, client,
               std::move(cb));
}

void Auth::loginWithRecoveryKey(std::string_view recoveryKey, const std::string& client,
                                LoginCallback cb) {
    startLogin(std::string(recoveryKey), "recovery key", &keys::unlockWithRecoveryKey, client,
               std::move(cb));
}

void Auth::startLogin(std::string secret, const char* method, Unlock unlock,
                      const std::string& client, LoginCallback cb) {
    auto refuse = [&](Error e) { deliver([cb, e = std::move(e)] { cb(e); }); };
    if (!ownerExists())
        return refuse(makeError("there is no owner yet: complete the first-run setup"));
    if (auto e = refuseEarly(client))
        return refuse(*e);
    inFlight_[client] = true;
    runOnWorker([this, secret = std::move(secret), method, unlock, client, cb]() mutable {
        auto key = std::make_shared<Expected<keys::OwnerKeyPair>>(unlock(stateDir_, secret));
        wipe(secret);
        deliver([this, key, method, client, cb = std::move(cb)] {
            inFlight_.erase(client);
            if (!*key) {
                recordFailure(client, method, key->error().message);
                cb(key->error());
                return;
            }
            attempts_.erase(client);
            Session* s = createSession(std::move(key->value()), client);
            PL_LOG(AuthLog, Info) << "owner logged in with the " << method << " from " << client;
            if (auto ok = audit_.append("login", client, json{{"method", method}}); !ok)
                PL_LOG(AuthLog, Error)
                    << "cannot record a login in the audit log: " << ok.error().message;
            cb(s);
        });
    });
}

void Auth::changePassphrase(Session& session, std::string_view current, bool withRecoveryKey,
                            std::string_view newPassphrase, DoneCallback cb) {
    auto refuse = [&](Error e) { deliver([cb, e = std::move(e)] { cb(e); }); };
    const std::string client = session.client;
    const char* method = withRecoveryKey ? "recovery key" : "passphrase";
    if (current.empty())
        return refuse(
            makeError(withRecoveryKey ? "enter the recovery key" : "enter the current passphrase"));
    if (auto ok = keys::checkPassphrase(newPassphrase); !ok)
        return refuse(ok.error());
    if (auto e = refuseEarly(client))
        return refuse(*e);
    inFlight_[client] = true;
    Unlock unlock = withRecoveryKey ? &keys::unlockWithRecoveryKey : &keys::unlockWithPassphrase;
    runOnWorker([this, unlock, cur = std::string(current), pass = std::string(newPassphrase),
                 client, keep = tokenKey(session.token), method, cb]() mutable {
        // Both Argon2id derivations (check the current secret, wrap under the
        // new one) here, off the loop.
        auto owner = unlock(stateDir_, cur);
        wipe(cur);
        std::optional<Error> wrong;
        Expected<void> result{};
        if (!owner)
            wrong = owner.error();
        else
            result = keys::changePassphrase(stateDir_, *owner, pass);
        wipe(pass);
        deliver([this, wrong, result, client, keep, method, cb = std::move(cb)] {
            inFlight_.erase(client);
            if (wrong) {
                recordFailure(client, std::string("passphrase change (") + method + ")",
                              wrong->message);
                cb(makeError("the " + std::string(method) +
                             " is wrong; the passphrase was not changed"));
                return;
            }
            if (!result) {
                PL_LOG(AuthLog, Error)
                    << "passphrase change from " << client << " failed: " << result.error().message;
                cb(result);
                return;
            }
            attempts_.erase(client);
            std::vector<std::string> others;
            for (const auto& [key, s] : sessions_)
                if (key != keep)
                    others.push_back(key);
            PL_LOG(AuthLog, Notice) << "passphrase changed from " << client << "; " << others.size()
                                    << " other session(s) ended";
            if (auto ok =
                    audit_.append("passphrase", client,
                                  json{{"method", method}, {"otherSessionsEnded", others.size()}});
                !ok)
                PL_LOG(AuthLog, Error)
                    << "cannot record a passphrase change in the audit log: " << ok.error().message;
            for (const auto& key : others)
                endSession(key, "passphrase changed");
            cb(result);
        });
    });
}

void Auth::logout(std::string_view token) {
    endSession(tokenKey(token), "logout");
}

Session* Auth::find(std::string_view token) {
    const std::string key = tokenKey(token);
    auto it = sessions_.find(key);
    if (it == sessions_.end())
        return nullptr;
    Session& s = *it->second;
    const auto now = clock_.now();
    if (now - s.created >= options_.maxLifetime) {
        endSession(key, "lifetime");
        return nullptr;
    }
    if (now - s.lastSeen >= options_.idle) {
        endSession(key, "idle");
        return nullptr;
    }
    s.lastSeen = now;
    return &s;
}

bool Auth::checkCsrf(const Session& session, std::string_view header) const {
    return equalSecret(header, session.csrf);
}

void Auth::sweep() {
    const auto now = clock_.now();
    std::vector<std::pair<std::string, const char*>> expired;
    for (const auto& [key, s] : sessions_) {
        if (now - s->created >= options_.maxLifetime)
            expired.emplace_back(key, "lifetime");
        else if (now - s->lastSeen >= options_.idle)
            expired.emplace_back(key, "idle");
    }
    for (const auto& [key, reason] : expired)
        endSession(key, reason);
    std::erase_if(attempts_, [&](const auto& item) {
        return item.second.blockedUntil <= now &&
               now - item.second.lastFailure >= options_.forgetFailures;
    });
}

void Auth::scheduleSweep() {
    sweepTimer_ = clock_.schedule(options_.sweepInterval, [this] {
        sweep();
        scheduleSweep();
    });
}

}  // namespace porchlight::web
