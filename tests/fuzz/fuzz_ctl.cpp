// libFuzzer harness for porchlightctl's hand-written argument parsing
// (daemon/ctl/ctl.cpp): the input is argv without argv[0], arguments
// separated by NUL bytes. A parse gives a command or a usage error that
// says what is wrong; times and sizes typed by people go through
// parseTime() and parseSize() too.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "config.h"
#include "ctl.h"
#include "fuzz_support.h"

using namespace porchlight;
using namespace porchlight::ctl;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quietLogs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    constexpr int64_t kNowUs = 1'764'424'800'000'000;  // 2025-11-29 14:00 UTC
    std::vector<std::string> args;
    std::string current;
    for (size_t i = 0; i < size; ++i) {
        if (data[i] == 0) {
            args.push_back(std::move(current));
            current.clear();
        } else {
            current += static_cast<char>(data[i]);
        }
    }
    if (!current.empty() || args.empty())
        args.push_back(std::move(current));

    ParseResult result = parseArguments(args, kNowUs);
    if (!result.ok() && result.error.message.empty()) {
        std::fprintf(stderr, "fuzz_ctl: a usage error that says nothing\n");
        std::abort();
    }
    for (const auto& a : args) {
        (void)parseTime(a, kNowUs);
        (void)parseSize(a);
    }
    return 0;
}
