// porchlightd's command line.
#pragma once

#include <string>
#include <vector>

#include "expected.h"

namespace porchlight {

enum class BusKind { System, Session };

struct Options {
    std::string configFile;  // empty: the built-in default path
    std::string stateDir;    // empty: $STATE_DIRECTORY, else the built-in default
    BusKind bus = BusKind::System;
    bool checkConfig = false;
    /// Demo mode: state in ./demo-state unless --state-dir, and an owner with a
    /// published passphrase, so the whole product can be tried on any machine.
    bool demo = false;
    bool help = false;
    bool version = false;
};

/// Parse argv (without argv[0]). Errors say which argument and what is allowed.
Expected<Options> parseOptions(const std::vector<std::string>& args);

std::string usageText();

/// The configuration file to read: --config, else the installed default ("" in demo mode: none).
std::string effectiveConfigFile(const Options& options);
/// The state directory: --state-dir, else $STATE_DIRECTORY (its first entry), else the default.
std::string effectiveStateDir(const Options& options);

}  // namespace porchlight
