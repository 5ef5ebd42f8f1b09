// sd_notify from the loop: see notify.h.
#include "notify.h"

#include <systemd/sd-daemon.h>

#include "log.h"

PL_DECLARE_LOG_CATEGORY(Dbus)

namespace porchlight {

Notifier::Notifier(Clock& clock) : clock_(clock) {}

void Notifier::ready(const std::string& status) {
    lastStatus_ = status;
    sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str());
}

void Notifier::status(const std::string& status) {
    if (status == lastStatus_)
        return;
    lastStatus_ = status;
    sd_notifyf(0, "STATUS=%s", status.c_str());
}

void Notifier::stopping() {
    sd_notify(0, "STOPPING=1\nSTATUS=Finishing recordings and stopping");
}

void Notifier::startWatchdog() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    interval_ = std::chrono::microseconds(usec / 2);
    PL_LOG(Dbus, Info) << "watchdog: every " << usec / 2000 << " ms";
    pet();
}

void Notifier::pet() {
    // From a timer on the loop: if the loop is stuck, the pets stop.
    sd_notify(0, "WATCHDOG=1");
    timer_ = clock_.schedule(interval_, [this] { pet(); });
}

}  // namespace porchlight
