// porchlightctl: the command-line face of porchlightd's D-Bus API.
#include <exception>
#include <iostream>

#include "run.h"

int main(int argc, char** argv) {
    // Nothing below throws by design; this only keeps a surprise (out of
    // memory) from ending in std::terminate's abort and core dump.
    try {
        return porchlight::ctl::run({argv + 1, argv + argc}, std::cout, std::cerr);
    } catch (const std::exception& e) {
        std::cerr << "porchlightctl: " << e.what() << "\n";
        return 1;
    }
}
