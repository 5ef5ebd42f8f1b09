// porchlightd's command line: see options.h.
#include "options.h"

#include <cstdlib>

#include "porchlight-config.h"

namespace porchlight {

Expected<Options> parseOptions(const std::vector<std::string>& args) {
    Options o;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        std::string name = a;
        std::string value;
        bool hasValue = false;
        if (a.rfind("--", 0) == 0) {
            if (size_t eq = a.find('='); eq != std::string::npos) {
                name = a.substr(0, eq);
                value = a.substr(eq + 1);
                hasValue = true;
            }
        }
        auto takeValue = [&]() -> Expected<std::string> {
            if (hasValue)
                return value;
            if (i + 1 >= args.size() || args[i + 1].empty())
                return makeError(name + " needs a value");
            return args[++i];
        };
        if (name == "--help" || name == "-h") {
            o.help = true;
        } else if (name == "--version") {
            o.version = true;
        } else if (name == "--demo") {
            o.demo = true;
        } else if (name == "--check-config") {
            o.checkConfig = true;
        } else if (name == "--config" || name == "-c") {
            auto v = takeValue();
            if (!v)
                return v.error();
            o.configFile = *v;
        } else if (name == "--state-dir") {
            auto v = takeValue();
            if (!v)
                return v.error();
            o.stateDir = *v;
        } else if (name == "--bus") {
            auto v = takeValue();
            if (!v)
                return v.error();
            if (*v == "system")
                o.bus = BusKind::System;
            else if (*v == "session")
                o.bus = BusKind::Session;
            else
                return makeError("--bus must be \"system\" or \"session\", not \"" + *v + "\"");
        } else {
            return makeError("unknown argument \"" + a + "\" (see porchlightd --help)");
        }
    }
    return o;
}

std::string usageText() {
    return std::string(
               "Usage: porchlightd [--config FILE] [--state-dir DIR] [--bus system|session]\n"
               "       porchlightd --check-config [--config FILE]\n"
               "\n"
               "Porchlight records doorbell cameras, encrypted, and keeps every frame in the "
               "house.\n"
               "\n"
               "  -c, --config FILE   configuration file (default ") +
           PORCHLIGHT_SYSCONFDIR +
           "/porchlight.toml;\n"
           "                      drop-ins in porchlight.conf.d/*.toml beside it, later wins)\n"
           "      --state-dir DIR recordings, index and keys (default $STATE_DIRECTORY, else " +
           PORCHLIGHT_LOCALSTATEDIR +
           ")\n"
           "      --bus BUS       D-Bus bus to serve on: system (default) or session\n"
           "      --check-config  validate the configuration and exit: 0 valid, 2 not\n"
           "      --demo          try Porchlight: the test-pattern camera, state in ./demo-state,\n"
           "                      and an owner whose passphrase is printed\n"
           "      --version       print the version and exit\n"
           "  -h, --help          print this help and exit\n"
           "\n"
           "Environment: PORCHLIGHT_LOG sets log levels, e.g. \"info,pipeline=debug\".\n"
           "Signals: SIGTERM/SIGINT finish the recordings and exit; SIGHUP reloads the "
           "configuration.\n";
}

std::string effectiveConfigFile(const Options& options) {
    if (!options.configFile.empty())
        return options.configFile;
    // The demo must not pick up a real installation's cameras: no file at all.
    if (options.demo)
        return "";
    return std::string(PORCHLIGHT_SYSCONFDIR) + "/porchlight.toml";
}

std::string effectiveStateDir(const Options& options) {
    if (!options.stateDir.empty())
        return options.stateDir;
    if (options.demo)
        return "demo-state";
    if (const char* s = std::getenv("STATE_DIRECTORY"); s && *s) {
        // systemd passes a colon-separated list when the unit names several.
        std::string dirs = s;
        return dirs.substr(0, dirs.find(':'));
    }
    return PORCHLIGHT_LOCALSTATEDIR;
}

}  // namespace porchlight
