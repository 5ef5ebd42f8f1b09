// porchlightd: the Porchlight recorder daemon's entry point.
#include <gst/gst.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "options.h"
#include "porchlight-config.h"

PL_DEFINE_LOG_CATEGORY(Main, "main")

using namespace porchlight;

namespace {

int checkConfig(const Options& options) {
    const std::string file = effectiveConfigFile(options);
    ConfigResult r = loadConfig(file);
    if (!r.ok()) {
        for (const auto& d : r.diagnostics)
            std::cerr << d.format() << "\n";
        std::cerr << r.diagnostics.size() << " error(s) in the configuration\n";
        return 2;
    }
    std::cout << "configuration is valid: " << r.config->cameras.size() << " camera(s) from ";
    if (r.config->files.empty())
        std::cout << "defaults (" << file << " does not exist)";
    for (size_t i = 0; i < r.config->files.size(); ++i)
        std::cout << (i ? ", " : "") << r.config->files[i];
    std::cout << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    auto options = parseOptions(args);
    if (!options) {
        std::cerr << "porchlightd: " << options.error().message << "\n";
        return 2;
    }
    if (options->help) {
        std::cout << usageText();
        return 0;
    }
    if (options->version) {
        std::cout << "porchlightd " << PORCHLIGHT_VERSION << "\n";
        return 0;
    }
    if (options->checkConfig)
        return checkConfig(*options);

    // Under journald the priority prefix carries the level; on a terminal a word reads better.
    setLogPlain(isatty(STDERR_FILENO) && !std::getenv("JOURNAL_STREAM"));
    if (const char* env = std::getenv("PORCHLIGHT_LOG"); env && *env)
        if (std::string err = applyLogSpec(env); !err.empty())
            PL_LOG(Main, Warning) << "PORCHLIGHT_LOG: " << err;
    // libcamera is chatty on stderr; its errors still come through.
    setenv("LIBCAMERA_LOG_LEVELS", "*:ERROR", 0);

    // x264 asks for transparent huge pages for its frame buffers; on a 1 GB
    // Pi the memory matters more than the few percent of speed they buy.
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);

    gst_init(nullptr, nullptr);

    boost::asio::io_context io(1);
    AsioClock clock(io);
    int code = 0;
    {
        Daemon daemon(io, clock, *options);
        daemon.handleSignals();
        if (auto started = daemon.start(); !started) {
            PL_LOG(Main, Error) << started.error().message;
            return daemon.exitCode();
        }
        io.run();
        code = daemon.exitCode();
    }
    gst_deinit();
    return code;
}
