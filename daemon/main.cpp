// porchlightd: the Porchlight recorder daemon's entry point.
#include <gst/gst.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "api.h"
#include "audit.h"
#include "auth.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "http_server.h"
#include "log.h"
#include "notify.h"
#include "options.h"
#include "plmask.h"
#include "porchlight-config.h"
#include "service.h"

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
    porchlightRegisterElements();

    boost::asio::io_context io(1);
    AsioClock clock(io);
    int code = 0;
    {
        Daemon daemon(io, clock, *options);
        Notifier notifier(clock);
        daemon.onShutdown = [&notifier] { notifier.stopping(); };
        daemon.handleSignals();
        if (auto started = daemon.start(); !started) {
            PL_LOG(Main, Error) << started.error().message;
            return daemon.exitCode();
        }

        // D-Bus is the control surface, not the recorder: without it the
        // cameras still record, and the log says why porchlightctl cannot
        // reach us. The demo uses the session bus when there is one.
        std::unique_ptr<dbus::Service> service;
        const bool session = options->bus == BusKind::Session;
        const bool demoWithoutBus =
            options->demo && !session && !std::getenv("DBUS_SESSION_BUS_ADDRESS");
        if (!demoWithoutBus) {
            auto type = session || options->demo ? dbus::BusType::Session : dbus::BusType::System;
            auto started = dbus::Service::start(io, clock, daemon, type);
            if (started)
                service = std::move(*started);
            else
                PL_LOG(Main, Error) << started.error().message
                                    << "; running without D-Bus (porchlightctl cannot reach "
                                       "this daemon)";
        }

        // The LAN web UI. A demo listens on this machine only, over plain HTTP
        // (allowed on loopback), unless the configuration says otherwise.
        std::unique_ptr<web::audit::AuditLog> auditLog;
        std::unique_ptr<web::Auth> auth;
        std::unique_ptr<web::Api> api;
        std::unique_ptr<web::HttpServer> http;
        if (auto opened = web::audit::AuditLog::open(daemon.stateDir(), &clock); !opened) {
            PL_LOG(Main, Error) << "audit log: " << opened.error().message
                                << "; the web UI stays off";
        } else {
            auditLog = std::move(*opened);
            web::Auth::Options ao;
            ao.idle = std::chrono::minutes(daemon.config().web.sessionIdleMinutes);
            ao.maxLifetime = std::chrono::hours(daemon.config().web.sessionMaxHours);
            auth = std::make_unique<web::Auth>(
                clock, [&io](std::function<void()> fn) { boost::asio::post(io, std::move(fn)); },
                daemon.stateDir(), *auditLog, ao);
            auth->setSetupCode(daemon.setupCode());
            api = std::make_unique<web::Api>(daemon, *auth, *auditLog);
            WebConfig webConfig = daemon.config().web;
            if (options->demo && webConfig.listen == WebConfig{}.listen)
                webConfig.listen = {"http://127.0.0.1:8080"};
            // The source tree's pages when it is there (a developer's build,
            // the demo, the tests), else the installed ones (a device).
            std::filesystem::path www = PORCHLIGHT_SOURCE_WWWDIR;
            if (!std::filesystem::exists(www / "index.html"))
                www = PORCHLIGHT_WWWDIR;
            auto started = web::HttpServer::start(io, webConfig, daemon.stateDir(), www, *api);
            if (!started) {
                PL_LOG(Main, Error) << "web UI: " << started.error().message;
            } else {
                http = std::move(*started);
                for (const auto& l : webConfig.listen)
                    PL_LOG(Main, Notice) << "web UI on " << l;
            }
        }

        // Ready: the bus name is owned (or given up on) and the cameras are started.
        notifier.ready(daemon.statusLine());
        notifier.startWatchdog();
        std::function<void()> refresh;
        std::unique_ptr<Timer> statusTimer;
        refresh = [&] {
            notifier.status(daemon.statusLine());
            statusTimer = clock.schedule(std::chrono::seconds(2), refresh);
        };
        refresh();

        io.run();
        statusTimer.reset();
        http.reset();
        api.reset();
        auth.reset();
        auditLog.reset();
        service.reset();
        code = daemon.exitCode();
    }
    gst_deinit();
    return code;
}
