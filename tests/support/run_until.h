// Run an io_context until a condition holds or a generous deadline passes.
// The deadline guards against hangs; it is not a timing assertion.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>

namespace porchlight::test {

inline bool runUntil(boost::asio::io_context& io, const std::function<bool()>& done,
                     std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        io.restart();
        io.run_for(std::chrono::milliseconds(20));
    }
    return true;
}

/// Keep the loop running for a while (to let frames flow), whatever happens.
inline void runFor(boost::asio::io_context& io, std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
        io.restart();
        io.run_for(std::chrono::milliseconds(20));
    }
}

}  // namespace porchlight::test
