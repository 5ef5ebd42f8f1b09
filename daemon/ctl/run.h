// One porchlightctl invocation from arguments to exit status: parse, call the
// daemon, print. Kept out of main() so that main stays a line and the flow
// reads in one place.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace porchlight::ctl {

/// Run porchlightctl with \a args (argv without argv[0]); output goes to \a out,
/// messages to \a err. Returns the exit status: 0 success, 1 failure, 2 usage.
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace porchlight::ctl
