// porchlight-vault: the owner's offline tool. Works on a state directory (or
// a copy of it) with no daemon running: create the owner key, export video,
// verify every recording, change the passphrase.
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "audit.h"
#include "keys.h"
#include "porchlight-config.h"
#include "vault.h"

using namespace porchlight;

namespace {

constexpr int kUsage = 2;
constexpr int kFailure = 1;

const char* kHelp =
    "Usage: porchlight-vault COMMAND --state-dir DIR [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  init               create the owner key pair and print the recovery key once\n"
    "                     [--passphrase-file F]\n"
    "  export             write one MP4 of a camera's recordings\n"
    "                     --camera ID --from T --to T --out FILE.mp4\n"
    "                     (--passphrase-file F | --recovery-key-file F)\n"
    "  verify             authenticate every recording and check the index\n"
    "                     [--passphrase-file F | --recovery-key-file F]\n"
    "  change-passphrase  set a new passphrase, unlocking with the old one or the recovery key\n"
    "                     [--passphrase-file F | --recovery-key-file F] [--new-passphrase-file F]\n"
    "  audit-verify       check the hash chain of the audit log (STATE/audit.log); needs no key\n"
    "\n"
    "Options:\n"
    "  -h, --help         show this help\n"
    "      --version      show the version\n"
    "\n"
    "T is ISO 8601 (2026-11-29T14:05:00Z, 2026-11-29T15:05:00+01:00, local time without an\n"
    "offset) or @UNIXSECONDS. Without a file option the passphrase is asked for on the terminal.\n"
    "Exit codes: 0 success, 1 failure (wrong key, damaged recording, ...), 2 usage.\n";

struct Args {
    std::string command;
    std::map<std::string, std::string> values;
};

std::optional<Args> parse(int argc, char** argv, std::string& error) {
    static const std::vector<std::string> known = {"--state-dir",
                                                   "--passphrase-file",
                                                   "--recovery-key-file",
                                                   "--new-passphrase-file",
                                                   "--camera",
                                                   "--from",
                                                   "--to",
                                                   "--out"};
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            a.command = "help";
            return a;
        }
        if (arg == "--version") {
            a.command = "version";
            return a;
        }
        if (arg.rfind("--", 0) != 0) {
            if (!a.command.empty()) {
                error = "unexpected argument \"" + arg + "\"";
                return std::nullopt;
            }
            a.command = arg;
            continue;
        }
        std::string name = arg, value;
        bool has = false;
        if (auto eq = arg.find('='); eq != std::string::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            has = true;
        }
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            error = "unknown option \"" + name + "\"";
            return std::nullopt;
        }
        if (!has) {
            if (i + 1 >= argc) {
                error = name + " needs a value";
                return std::nullopt;
            }
            value = argv[++i];
        }
        a.values[name] = value;
    }
    if (a.command.empty()) {
        error = "no command given";
        return std::nullopt;
    }
    return a;
}

Expected<std::string> readSecretFile(const std::string& path) {
    std::ifstream in(path);
    if (!in)
        return makeError("cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
        s.pop_back();
    return s;
}

Expected<std::string> prompt(const std::string& question) {
    int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return makeError("no terminal to ask for the passphrase on: use --passphrase-file");
    struct termios old {};
    const bool tty = tcgetattr(fd, &old) == 0;
    if (tty) {
        struct termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    (void)!::write(fd, question.data(), question.size());
    std::string line;
    char c;
    while (::read(fd, &c, 1) == 1 && c != '\n')
        line += c;
    (void)!::write(fd, "\n", 1);
    if (tty)
        tcsetattr(fd, TCSAFLUSH, &old);
    ::close(fd);
    return line;
}

Expected<keys::OwnerKeyPair> unlock(const Args& a, const std::string& stateDir) {
    if (auto f = a.values.find("--recovery-key-file"); f != a.values.end()) {
        auto key = readSecretFile(f->second);
        if (!key)
            return key.error();
        return keys::unlockWithRecoveryKey(stateDir, *key);
    }
    std::string passphrase;
    if (auto f = a.values.find("--passphrase-file"); f != a.values.end()) {
        auto p = readSecretFile(f->second);
        if (!p)
            return p.error();
        passphrase = *p;
    } else {
        auto p = prompt("Passphrase: ");
        if (!p)
            return p.error();
        passphrase = *p;
    }
    return keys::unlockWithPassphrase(stateDir, passphrase);
}

Expected<std::string> newPassphrase(const Args& a, const char* option) {
    if (auto f = a.values.find(option); f != a.values.end())
        return readSecretFile(f->second);
    auto p1 = prompt("New passphrase: ");
    if (!p1)
        return p1;
    auto p2 = prompt("Repeat the new passphrase: ");
    if (!p2)
        return p2;
    if (*p1 != *p2)
        return makeError("the two passphrases differ; nothing was changed");
    return p1;
}

int fail(const std::string& message) {
    std::cerr << "porchlight-vault: " << message << "\n";
    return kFailure;
}

std::string need(const Args& a, const std::string& name, bool& missing) {
    auto it = a.values.find(name);
    if (it == a.values.end()) {
        std::cerr << "porchlight-vault " << a.command << ": " << name << " is required\n";
        missing = true;
        return {};
    }
    return it->second;
}

}  // namespace

int main(int argc, char** argv) {
    std::string error;
    auto args = parse(argc, argv, error);
    if (!args) {
        std::cerr << "porchlight-vault: " << error << " (see porchlight-vault --help)\n";
        return kUsage;
    }
    if (args->command == "help") {
        std::cout << kHelp;
        return 0;
    }
    if (args->command == "version") {
        std::cout << "porchlight-vault " << PORCHLIGHT_VERSION << "\n";
        return 0;
    }
    if (sodium_init() < 0)
        return fail("libsodium could not start");
    bool missing = false;
    const std::string stateDir = need(*args, "--state-dir", missing);
    if (missing)
        return kUsage;

    if (args->command == "init") {
        auto pass = args->values.count("--passphrase-file")
                        ? readSecretFile(args->values.at("--passphrase-file"))
                        : newPassphrase(*args, "--passphrase-file");
        if (!pass)
            return fail(pass.error().message);
        if (auto ok = keys::checkPassphrase(*pass); !ok)
            return fail(ok.error().message);
        auto created = keys::createOwner(stateDir, *pass);
        if (!created)
            return fail(created.error().message);
        std::cout << "Owner key created. Recording starts once porchlightd sees it.\n\n"
                  << "Recovery key (shown this once; write it down and keep it safe):\n\n    "
                  << created->recoveryKey << "\n\n"
                  << "With it you can read your recordings if you forget the passphrase.\n";
        return 0;
    }
    if (args->command == "export") {
        const std::string camera = need(*args, "--camera", missing);
        const std::string from = need(*args, "--from", missing);
        const std::string to = need(*args, "--to", missing);
        const std::string out = need(*args, "--out", missing);
        if (missing)
            return kUsage;
        auto f = vault::parseTime(from);
        if (!f)
            return fail("--from: " + f.error().message);
        auto t = vault::parseTime(to);
        if (!t)
            return fail("--to: " + t.error().message);
        auto owner = unlock(*args, stateDir);
        if (!owner)
            return fail(owner.error().message);
        auto r = vault::exportRange(stateDir, *owner, camera, *f, *t, out);
        if (!r)
            return fail(r.error().message);
        for (const auto& w : r->warnings)
            std::cerr << "warning: " << w << "\n";
        std::cout << "exported " << r->samples << " frames, " << r->seconds << " s, " << r->bytes
                  << " bytes from " << r->segments << " segment(s) to " << out << "\n";
        return 0;
    }
    if (args->command == "verify") {
        auto owner = unlock(*args, stateDir);
        if (!owner)
            return fail(owner.error().message);
        auto r = vault::verify(stateDir, *owner);
        if (!r)
            return fail(r.error().message);
        for (const auto& p : r->problems)
            std::cout << "problem: " << p << "\n";
        std::cout << r->segments << " segment(s), " << r->chunks << " chunk(s), " << r->bytes
                  << " bytes: "
                  << (r->ok() ? "all sound" : std::to_string(r->problems.size()) + " problem(s)")
                  << "\n";
        return r->ok() ? 0 : kFailure;
    }
    if (args->command == "audit-verify") {
        auto r = web::audit::verifyAuditLog(web::audit::auditLogPath(stateDir));
        if (!r)
            return fail(r.error().message);
        if (!r->ok) {
            std::cout << "audit log " << web::audit::auditLogPath(stateDir).string() << ": "
                      << (r->line ? "line " + std::to_string(r->line) + ": " : std::string())
                      << r->problem << "\n"
                      << r->entries << " entries before it are sound\n";
            return kFailure;
        }
        std::cout << r->entries << " entries, chain sound; last hash " << r->lastHash << "\n";
        return 0;
    }
    if (args->command == "change-passphrase") {
        auto owner = unlock(*args, stateDir);
        if (!owner)
            return fail(owner.error().message);
        auto pass = newPassphrase(*args, "--new-passphrase-file");
        if (!pass)
            return fail(pass.error().message);
        if (auto ok = keys::checkPassphrase(*pass); !ok)
            return fail(ok.error().message);
        if (auto r = keys::changePassphrase(stateDir, *owner, *pass); !r)
            return fail(r.error().message);
        std::cout << "Passphrase changed. The recovery key stays the same.\n";
        return 0;
    }
    std::cerr << "porchlight-vault: unknown command \"" << args->command
              << "\" (init, export, verify, change-passphrase, audit-verify)\n";
    return kUsage;
}
