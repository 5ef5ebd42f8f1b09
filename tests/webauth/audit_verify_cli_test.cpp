// `porchlight-vault audit-verify`: exit 0 on a sound log, 1 naming the first
// bad line on a tampered one.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "audit.h"

using namespace porchlight;
namespace fs = std::filesystem;

namespace {

struct Run {
    int status = -1;
    std::string output;
};

Run runVault(const fs::path& stateDir) {
    const char* vault = std::getenv("PORCHLIGHT_VAULT");
    Run r;
    if (!vault || !*vault)
        return r;
    const std::string cmd =
        std::string(vault) + " audit-verify --state-dir '" + stateDir.string() + "' 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p)
        return r;
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof buf, p))
        r.output.append(buf, n);
    const int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

TEST(AuditVerifyCli, SoundThenTampered) {
    if (!std::getenv("PORCHLIGHT_VAULT"))
        GTEST_SKIP() << "PORCHLIGHT_VAULT not set";
    char tmpl[] = "/tmp/audit_cli.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const fs::path dir = tmpl;
    {
        auto log = web::audit::AuditLog::open(dir);
        ASSERT_TRUE(log);
        for (int i = 0; i < 3; ++i)
            ASSERT_TRUE((*log)->append("export", "192.168.1.9", {{"clip", i}}));
    }
    auto ok = runVault(dir);
    EXPECT_EQ(ok.status, 0) << ok.output;
    EXPECT_NE(ok.output.find("3 entries"), std::string::npos) << ok.output;

    std::vector<std::string> lines;
    {
        std::ifstream in(web::audit::auditLogPath(dir));
        for (std::string l; std::getline(in, l);)
            lines.push_back(l);
    }
    lines[1].replace(lines[1].find("192.168.1.9"), 11, "192.168.1.8");
    {
        std::ofstream out(web::audit::auditLogPath(dir), std::ios::trunc);
        for (const auto& l : lines)
            out << l << "\n";
    }
    auto bad = runVault(dir);
    EXPECT_EQ(bad.status, 1) << bad.output;
    EXPECT_NE(bad.output.find("line 2"), std::string::npos) << bad.output;
    fs::remove_all(dir);
}

}  // namespace
