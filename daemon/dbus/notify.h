// Telling systemd how the daemon is: READY=1, a STATUS= line kept current,
// WATCHDOG=1 from the event loop (so a stuck loop gets the service
// restarted), STOPPING=1. Harmless without systemd (no NOTIFY_SOCKET).
#pragma once

#include <memory>
#include <string>

#include "clock.h"

namespace porchlight {

class Notifier {
public:
    explicit Notifier(Clock& clock);
    void ready(const std::string& status);
    void status(const std::string& status);
    void stopping();
    /// Pets the watchdog at half of WATCHDOG_USEC, when systemd set one.
    void startWatchdog();

private:
    void pet();
    Clock& clock_;
    std::string lastStatus_;
    Clock::Duration interval_{};
    std::unique_ptr<Timer> timer_;
};

}  // namespace porchlight
