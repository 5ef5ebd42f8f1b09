// libFuzzer harness for the configuration parser (daemon/config.cpp): TOML
// text in, either a validated Config or diagnostics that each name the file
// they are about. One input may hold a main file and drop-ins, separated by
// a line "#%%" (so the merge of [[camera]] tables by id is reached too).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.h"
#include "fuzz_support.h"

using namespace porchlight;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quietLogs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view all(reinterpret_cast<const char*>(data), size);
    std::vector<std::pair<std::string, std::string>> documents;
    constexpr std::string_view kSeparator = "\n#%%\n";
    for (int n = 0;; ++n) {
        const size_t cut = all.find(kSeparator);
        std::string name = n == 0
                               ? "/etc/porchlight/porchlight.toml"
                               : "/etc/porchlight/porchlight.conf.d/" + std::to_string(n) + ".toml";
        documents.emplace_back(std::move(name), std::string(all.substr(0, cut)));
        if (cut == std::string_view::npos || n == 8)
            break;
        all.remove_prefix(cut + kSeparator.size());
    }

    ConfigResult result = parseConfig(documents);
    // The contract the daemon relies on: a config or diagnostics, never
    // both, never neither; each diagnostic says which file and what.
    if (result.ok() != result.diagnostics.empty())
        std::abort();
    for (const auto& d : result.diagnostics) {
        const std::string text = d.format();
        if (d.message.empty() || text.rfind("/etc/porchlight/", 0) != 0)
            std::abort();
    }
    if (result.ok()) {
        // What the daemon does next with a good config: compare cameras for a reload.
        for (const auto& a : result.config->cameras)
            for (const auto& b : result.config->cameras)
                (void)a.sameSettings(b);
    }
    return 0;
}
