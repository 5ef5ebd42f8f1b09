// The LAN web UI's HTTP server: HTTPS (or plain HTTP on loopback) on the
// daemon's one Asio thread, static files from the www directory and
// everything under /api/ handed to the API's Handler.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "expected.h"
#include "http.h"

namespace boost::asio {
class io_context;
}

namespace porchlight {
struct WebConfig;
}

namespace porchlight::web {

struct ServerState;

class HttpServer {
public:
    /// Binds every [web] listen address, HTTPS unless the entry says
    /// "http://" (or plain_http is set); plain HTTP on a non-loopback address
    /// without plain_http is refused. The certificate comes from
    /// ensureCertificate(). \a api must outlive the server.
    static Expected<std::unique_ptr<HttpServer>> start(boost::asio::io_context& io,
                                                       const WebConfig& config,
                                                       const std::filesystem::path& stateDir,
                                                       const std::filesystem::path& wwwDir,
                                                       Handler& api);
    /// Closes the listeners and every open connection; responses the API
    /// gives later are dropped.
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    /// The ports bound, in the order of [web] listen (port 0 resolved).
    std::vector<uint16_t> ports() const;

private:
    explicit HttpServer(std::shared_ptr<ServerState> state);
    std::shared_ptr<ServerState> state_;
};

}  // namespace porchlight::web
